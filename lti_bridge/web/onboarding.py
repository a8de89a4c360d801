"""The onboarding check: a learner's launch of a link with custom ``purpose=onboarding``."""

from __future__ import annotations

import logging

from flask import render_template
from flask.typing import ResponseReturnValue

from lti_bridge.adapters.platform.ags import AgsError
from lti_bridge.domain.errors import LtiBridgeError
from lti_bridge.domain.model import LaunchContext
from lti_bridge.services.carryover import arm_for_learner
from lti_bridge.services.onboarding import check_onboarding
from lti_bridge.web.context import services
from lti_bridge.web.errors import render_problem

log = logging.getLogger("lti_bridge.onboarding")

PURPOSE = "onboarding"


def is_onboarding_launch(context: LaunchContext) -> bool:
    """Whether the link is the onboarding course's completion check (CONTRACT §3)."""
    return context.custom.get("purpose", "").strip().lower() == PURPOSE


def onboarding_launch(context: LaunchContext, platform_id: int) -> ResponseReturnValue:
    """Read the learner's onboarding results from the platform, record a pass, show the verdict."""
    svc = services()
    gradebook = svc.launch_gradebook(context)
    try:
        check = check_onboarding(
            platform_id=platform_id,
            learner_sub=context.user_sub,
            context_id=context.context_id,
            issuer=context.issuer,
            gradebook=gradebook,
            uow=svc.uow(),
            now=svc.clock(),
        )
    except AgsError as exc:
        log.warning("onboarding check for sub=%s failed: %s", context.user_sub, exc)
        return render_problem(
            502,
            "Gradebook unavailable",
            "Your onboarding results could not be read from the course platform just now. "
            "Nothing has changed; please try again in a few minutes.",
            exc.admin_hint,
        )
    if check.passed:
        # The pass allows carry-over (R7). Armed on every passed check, not only a new pass:
        # arming twice does nothing, and a pass recorded before the SIS knew the student (or
        # an arming that failed) is caught up on the learner's next check.
        try:
            arm_for_learner(platform_id, context.user_sub, uow=svc.uow(), now=svc.clock())
        except LtiBridgeError as exc:
            log.warning("carry-over after onboarding of %s not armed: %s", context.user_sub, exc)
    log.info(
        "onboarding check sub=%s passed=%s newly=%s",
        context.user_sub,
        check.passed,
        check.newly_passed,
    )
    return render_template("lti/onboarding.html", launch=context, check=check)
