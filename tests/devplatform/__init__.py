"""A development LMS: the real LTI 1.3 platform implementation ``lti1p3platform`` behind a small
Flask app, so the tool can be launched without an LMS.

It plays the platform's part of every message the tool takes part in: OIDC login initiation
(third-party initiated, GET), the authorization endpoint that answers with the auto-posted
``id_token`` form, its key set, deep linking returns (new links appear on the course page), the
LTI client-side postMessage storage frame (``lti_storage_target``), and a ``return_url`` page that
shows ``lti_errormsg``. The e2e tests drive it in headless Chromium; ``python -m tests.devplatform``
runs it by hand.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, abort, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from jwcrypto.jwk import JWK
from lti1p3platform.exceptions import LtiException
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration

from tests.devplatform.ags import register_ags_routes
from tests.devplatform.nrps import register_nrps_routes

ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
STORAGE_FRAME = "post_message_forwarding"


@dataclass(frozen=True)
class Person:
    sub: str
    name: str
    email: str
    roles: tuple[str, ...]
    person_sourcedid: str | None = None


@dataclass(frozen=True)
class Link:
    id: str
    title: str
    custom: dict[str, str] = field(default_factory=dict)
    deep_linking: bool = False


@dataclass(frozen=True)
class Course:
    context_id: str = "course-dtsa5509-credit"
    label: str = "DTSA 5509"
    title: str = "Introduction to Machine Learning: Supervised Learning (for credit)"
    section_sourcedid: str | None = "DTSA5509-100-2024S1"


ONBOARDING_COURSE = Course(
    "course-onboarding", "ONBOARD", "Graduate onboarding (non-credit)", section_sourcedid=None
)
ONBOARDING_LINKS = (
    Link("onboarding-check", "Onboarding check", {"purpose": "onboarding"}),
)

DEFAULT_PEOPLE = {
    "learner": Person(
        "learner-ada", "Ada Learner", "ada@example.edu", (ROLE + "Learner",), "110123456"
    ),
    "learner2": Person(
        "learner-ben", "Ben Learner", "ben@example.edu", (ROLE + "Learner",), "110654321"
    ),
    "instructor": Person(
        "instructor-grace", "Grace Instructor", "grace@example.edu", (ROLE + "Instructor",)
    ),
}

DEFAULT_LINKS = (
    Link("week1-reading", "Week 1 reading", {"access": "open", "item": "week1-reading"}),
    Link("final-exam", "Final exam", {"access": "for_credit", "item": "final-exam"}),
    Link("place-item", "Add an lti_bridge item", deep_linking=True),
)


class _Registration(Registration):  # type: ignore[misc]
    """The library's registration, with a ``kid`` on the key: tools refuse tokens without one."""

    def get_kid(self) -> str | None:
        key = self.get_platform_public_key()
        return JWK.from_pem(key.encode()).thumbprint() if key else None

    def get_jwks(self) -> list[dict[str, Any]]:
        key = self.get_platform_public_key()
        if not key:
            return []
        jwk = Registration.get_jwk(key)
        jwk["kid"] = self.get_kid()
        return [jwk]


class _PlatformConf(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    def init_platform_config(self, **kwargs: Any) -> None:
        self._platform: DevPlatform = kwargs["platform"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._platform.registration()


class _OIDCLogin(OIDCLoginAbstract):  # type: ignore[misc]
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["link_id"]

    def prepare_preflight_url(self, user_id: str) -> str:
        url: str = super().prepare_preflight_url(user_id)
        if self.storage_target:
            url += "&" + urlencode({"lti_storage_target": self.storage_target})
        return url

    storage_target: str | None = None

    def get_redirect(self, url: str) -> ResponseReturnValue:
        return redirect(url, code=302)


class _MessageLaunch(LTIAdvantageMessageLaunchAbstract):  # type: ignore[misc]
    def __init__(self, req: Any, conf: _PlatformConf, platform: DevPlatform) -> None:
        super().__init__(req, conf)
        self._platform = platform

    def get_preflight_response(self) -> dict[str, Any]:
        return dict(request.values.items())

    def prepare_launch(self, preflight: dict[str, Any]) -> None:
        self._platform.prepare(self, preflight)

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> ResponseReturnValue:
        return render_template("launch_form.html", **launch_data)


class DevPlatform:
    """One LMS with one course, its people and links, registered with one tool."""

    def __init__(
        self,
        tool_url: str,
        *,
        issuer: str = "",
        client_id: str = "lti-bridge-dev",
        deployment_id: str = "dev-deployment-1",
        people: dict[str, Person] | None = None,
        links: tuple[Link, ...] = DEFAULT_LINKS,
        course: Course | None = None,
        launch_url: str | None = None,
        onboarding_course: Course | None = None,
        onboarding_links: tuple[Link, ...] = ONBOARDING_LINKS,
    ) -> None:
        self.tool_url = tool_url.rstrip("/")
        # Where the id_token is posted; another process than the login's when a test says so.
        self.launch_url = (launch_url or self.tool_url).rstrip("/") + "/lti/launch"
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.people = dict(people or DEFAULT_PEOPLE)
        self.course = course or Course()
        self._links = {link.id: link for link in links}
        # A second course on the same platform, launched by its own links.
        self.onboarding_course = onboarding_course
        self._onboarding_link_ids: set[str] = set()
        if onboarding_course is not None:
            self._links.update({link.id: link for link in onboarding_links})
            self._onboarding_link_ids = {link.id for link in onboarding_links}
        # Links launched from another course of this platform (a non-credit course): link id ->
        # that course.
        self.link_courses: dict[str, Course] = {}
        # AGS (tests/devplatform/ags.py): gradebook[context_id][label] = {user_sub: score of 100}.
        self.gradebook: dict[str, dict[str, dict[str, float]]] = {}
        # Optional per line item: {"tag", "scoreMaximum", "endDateTime"} (final grades read tags).
        self.lineitem_meta: dict[str, dict[str, dict[str, Any]]] = {}
        # Optional (context_id, label, sub) -> ISO timestamp of the result's grading.
        self.result_timestamps: dict[tuple[str, str, str], str] = {}
        # Entries per AGS page; a platform honouring the tool's ``limit`` sends up to that many.
        self.ags_page_size = 1
        self.ags_honours_limit = False
        # The most entries a page holds even when the tool asks for more (Canvas caps at 100).
        self.ags_page_cap = 1000
        # Answers the next AGS GETs give instead of the data: (status, headers, body).
        self.ags_faults: list[tuple[int, dict[str, str], str]] = []
        self.ags_requests = 0
        # Carry-over (tests/devplatform/ags.py): scores posted, as (context, label, body).
        self.scores_posted: list[tuple[str, str, dict[str, Any]]] = []
        # Optional (context_id, label, sub) -> {"activityProgress", "gradingProgress"} of a result.
        self.result_progress: dict[tuple[str, str, str], dict[str, str]] = {}
        # ``Link: <…>; rel=next`` without quotes (both forms occur in the wild).
        self.ags_link_unquoted = False
        # A Canvas-like throttle: more AGS/token requests in flight than this answer
        # 403 "Rate Limit Exceeded"; every request first waits ``ags_delay`` seconds.
        self.ags_throttle_above: int | None = None
        self.ags_delay = 0.0
        self.ags_in_flight = 0
        self.ags_calls = 0
        # Remember tokens already verified (the benchmark's platform: verifying a signature on
        # every call would make the loopback platform, not the tool, the bottleneck).
        self.ags_cache_tokens = False
        self.ags_max_in_flight_seen = 0
        self.ags_throttled = 0
        # NRPS (tests/devplatform/nrps.py): the people are the members, less the hidden ones,
        # plus members who never launch; paged, the next link's rel quoted or not.
        self.nrps_extra: list[Person] = []
        self.nrps_hidden: set[str] = set()
        self.nrps_page_size = 2
        self.nrps_honours_limit = False
        self.nrps_quote_rel = True
        self.nrps_faults: list[tuple[int, dict[str, str], str]] = []
        self.nrps_requests = 0
        self._lock = threading.Lock()
        self.storage: dict[str, str] = {}
        self.storage_log: list[str] = []
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    # -- what the tool's administrator types ------------------------------------------------

    def platform_add_args(self) -> list[str]:
        """The ``lti-bridge platform add`` arguments that register this platform."""
        return [
            "platform", "add",
            "--issuer", self.issuer,
            "--client-id", self.client_id,
            "--auth-login-url", self.issuer + "/authorize",
            "--auth-token-url", self.issuer + "/token",
            "--key-set-url", self.issuer + "/jwks",
            "--deployment-id", self.deployment_id,
        ]

    @property
    def links(self) -> list[Link]:
        with self._lock:
            return list(self._links.values())

    def add_link(self, link: Link) -> None:
        with self._lock:
            self._links[link.id] = link

    def registration(self) -> Registration:
        reg = _Registration()
        reg.set_iss(self.issuer)
        reg.set_client_id(self.client_id)
        reg.set_deployment_id(self.deployment_id)
        reg.set_oidc_login_url(self.tool_url + "/lti/login")
        reg.set_launch_url(self.launch_url)
        reg.set_deeplink_launch_url(self.launch_url)
        reg.set_platform_public_key(self._public_pem)
        reg.set_platform_private_key(self._private_pem)
        reg.set_tool_key_set_url(self.tool_url + "/lti/jwks")
        return reg

    def prepare(self, launch: _MessageLaunch, preflight: dict[str, Any]) -> None:
        """Fill the launch from the login's hints: who is launching which link."""
        person = self.people.get(preflight.get("login_hint", ""))
        link = self._links.get(preflight.get("lti_message_hint", ""))
        if person is None or link is None:
            abort(400, "unknown login_hint or lti_message_hint")
        if preflight.get("redirect_uri") != self.launch_url:
            abort(400, "redirect_uri is not the registered launch URL")
        if preflight.get("response_type") != "id_token" or preflight.get("scope") != "openid":
            abort(400, "response_type must be id_token and scope openid")
        launch.set_user_data(
            person.sub, list(person.roles), full_name=person.name, email_address=person.email
        )
        course = self.course
        if link.id in self._onboarding_link_ids and self.onboarding_course is not None:
            course = self.onboarding_course
        course = self.link_courses.get(link.id, course)
        launch.set_launch_context_claim(
            course.context_id,
            context_types=["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            context_title=course.title,
            context_label=course.label,
        )
        launch.set_launch_presentation_claim(
            document_target="iframe", return_url=self.issuer + "/return"
        )
        lis: dict[str, str] = {}
        if person.person_sourcedid:
            lis["person_sourcedid"] = person.person_sourcedid
        if course.section_sourcedid:
            lis["course_section_sourcedid"] = course.section_sourcedid
        if lis:
            launch.set_extra_claims({"https://purl.imsglobal.org/spec/lti/claim/lis": lis})
        launch.set_nrps(self.issuer + "/nrps/" + course.context_id)
        launch.set_ags(lineitems_url=self.issuer + "/ags/" + course.context_id + "/lineitems")
        if link.deep_linking:
            launch.set_dl(self.issuer + "/deep-link-return", title=link.title)
        else:
            launch.set_resource_link_claim(link.id, title=link.title)
            launch.set_custom_parameters_claim(dict(link.custom))

    # -- the web app -------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        app.config["SECRET_KEY"] = secrets.token_hex(16)
        platform = self

        @app.get("/")
        def course() -> ResponseReturnValue:
            return render_template(
                "course.html", platform=platform, links=platform.links, people=platform.people
            )

        @app.get("/frame/<link_id>")
        def frame(link_id: str) -> ResponseReturnValue:
            """The course page an LMS shows: the tool in an iframe, beside the storage frame."""
            if link_id not in platform._links:
                abort(404)
            who = request.args.get("as", "learner")
            src = f"/launch/{link_id}?" + urlencode(
                {"as": who, "storage": request.args.get("storage", "")}
            )
            return render_template(
                "frame.html", src=src, storage_frame=STORAGE_FRAME, platform=platform
            )

        @app.get("/launch/<link_id>")
        def launch(link_id: str) -> ResponseReturnValue:
            """Third-party initiated login: send the browser to the tool's login URL."""
            who = request.args.get("as", "learner")
            if link_id not in platform._links or who not in platform.people:
                abort(404)
            login = _OIDCLogin(request, _PlatformConf(platform=platform))
            login.set_lti_message_hint(link_id=link_id)
            if platform._links[link_id].deep_linking:
                login.set_deeplinking_launch_url()
            if request.args.get("storage"):
                login.storage_target = STORAGE_FRAME
            return login.initiate_login(who)

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> ResponseReturnValue:
            """The OIDC authorization endpoint: answer with the signed launch, form-posted."""
            conf = _PlatformConf(platform=platform)
            try:
                return _MessageLaunch(request, conf, platform).lti_launch()
            except LtiException as exc:
                abort(400, str(exc))
            except Exception as exc:  # the library signals bad preflight with bare exceptions
                if type(exc).__name__ == "PreflightRequestValidationException":
                    abort(400, "invalid authorization request")
                raise

        @app.get("/jwks")
        def jwks() -> ResponseReturnValue:
            return jsonify({"keys": platform.registration().get_jwks()})

        @app.post("/deep-link-return")
        def deep_link_return() -> ResponseReturnValue:
            conf = _PlatformConf(platform=platform)
            conf.get_registration()
            try:
                items = conf.validate_deeplinking_resp(dict(request.form.items()))
            except Exception as exc:  # noqa: BLE001 - any verification failure is the tool's
                abort(400, f"deep linking response refused: {exc}")
            placed = []
            for item in items:
                link = Link(
                    id="dl-" + secrets.token_hex(4),
                    title=item.get("title") or "Untitled",
                    custom={str(k): str(v) for k, v in (item.get("custom") or {}).items()},
                )
                platform.add_link(link)
                placed.append(link)
            return render_template("placed.html", placed=placed)

        @app.get("/return")
        def return_page() -> ResponseReturnValue:
            return render_template(
                "return.html",
                errormsg=request.args.get("lti_errormsg"),
                msg=request.args.get("lti_msg"),
            )

        @app.get("/storage-frame")
        def storage_frame() -> ResponseReturnValue:
            return render_template("storage_frame.html")

        @app.route("/storage-log", methods=["GET", "POST"])
        def storage_log() -> ResponseReturnValue:
            if request.method == "POST":
                platform.storage_log.append(request.get_data(as_text=True)[:200])
                return "", 204
            return "\n".join(platform.storage_log), 200, {"Content-Type": "text/plain"}

        register_ags_routes(app, platform)
        register_nrps_routes(app, platform)
        return app
