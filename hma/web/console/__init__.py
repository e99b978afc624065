"""The reviewer console: server-rendered pages, signed-in users, CSRF on every form.

Everything the browser needs is served from here (no CDN: the console must
work on an air-gapped network). Media reaches the browser only as the
blurred greyscale preview, unless a reviewer presses "reveal", which is a
POST, written to the audit log before the image is sent.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import pyotp
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from accounts import sessions as console_sessions
from accounts.models import User
from accounts.users import ISSUER, MIN_PASSWORD, authenticate, renew_account, set_wellness
from actioners import cases, exposure, reporter_admin, reporting, review, webhooks
from actioners import queue as queue_rules
from actioners.media import DEFAULT_BLUR, LEAST_BLUR, MOST_BLUR, preview
from actioners.models import Case
from core.errors import (
    CredentialsUnreadable,
    DomainError,
    ExposureLimitReached,
    LoginFailed,
    RenewalRefused,
)
from core.names import Role
from database import audit, utcnow
from hma.secrets import secret_box
from hma.web.console import post_view
from hma.web.context import db_session, services

log = logging.getLogger(__name__)

console = Blueprint("console", __name__, url_prefix="/console")

View = TypeVar("View", bound=Callable[..., Any])
REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
CURATE_ROLES = (Role.CURATOR, Role.ADMIN)
#: Methods that change nothing, and so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Minutes a reviewer may go on after being prompted to take a break.
BREAK_SKIP_MINUTES = 15


# Sessions, sign-in and CSRF ---------------------------------------------------------


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


@console.before_request
def check_csrf() -> None:
    """Every state-changing request carries this session's token (forms and fetches)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, "the form has expired: reload the page and try again")


def signed_in(*roles: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = console_sessions.current_user(db_session(), session.get("sid", ""))
            if user is None:
                return redirect(url_for("console.login", next=request.path))
            if user.must_renew and request.endpoint != "console.renew_secrets":
                return redirect(url_for("console.renew_secrets"))
            if roles and user.role not in roles:
                abort(403, "your role does not allow this page")
            g.user = user
            return view(*args, **kwargs)

        return cast(View, wrapped)

    return decorate


def reviewer() -> str:
    """The acting reviewer, as decisions and the audit log name them."""
    return f"user:{g.user.username}"


def my_queues() -> frozenset[str] | None:
    """The queues whose cases the signed-in user may open (None: all, for admins)."""
    user: User = g.user
    return review.visible_queues(user.username, user.role, user.queues or [])


@console.app_context_processor
def template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_user": g.get("user")}


@console.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method != "POST":
        return render_template("console/login.html")
    db = db_session()
    form = request.form
    try:
        user = authenticate(
            db,
            form.get("username", ""),
            form.get("password", ""),
            form.get("code", ""),
            secret_box(services().settings),
            address=request.remote_addr or "unknown",
        )
    except LoginFailed as exc:
        db.commit()  # failures count towards the lockout and are audited
        return render_template("console/login.html", error=str(exc)), 401
    except CredentialsUnreadable:
        log.error("sign-in impossible: TOTP secrets do not decrypt with the secret key")
        message = "sign-in is unavailable: the server's secret key has changed (see the logs)"
        return render_template("console/login.html", error=message), 503
    key = console_sessions.start(db, user)
    db.commit()
    session.clear()  # a fresh session: nothing from before sign-in carries over
    session.permanent = True
    session["sid"] = key
    csrf_token()
    target = request.args.get("next", "")
    return redirect(target if _is_console_path(target) else url_for("console.home"))


def _is_console_path(target: str) -> bool:
    """Only this console's own pages are followed after a form (no open redirect)."""
    return target.startswith("/console/") and not target.startswith("//") and "\\" not in target


@console.route("/renew", methods=["GET", "POST"])
@signed_in()
def renew_secrets() -> Any:
    """First sign-in with secrets from a file: a new password and authenticator first."""
    user: User = g.user
    if not user.must_renew:
        return redirect(url_for("console.home"))
    box = secret_box(services().settings)
    pending = session.get("renew_totp")
    secret = box.decrypt(pending) if pending else pyotp.random_base32()
    # Kept encrypted in the (signed, not encrypted) session cookie until confirmed.
    session["renew_totp"] = box.encrypt(secret)
    error = None
    if request.method == "POST":
        db = db_session()
        form = request.form
        try:
            renew_account(
                db,
                user,
                form.get("password", ""),
                form.get("repeat", ""),
                form.get("code", ""),
                secret,
                box,
                keep_session=session.get("sid", ""),
            )
        except RenewalRefused as exc:
            error = str(exc)
        else:
            db.commit()
            session.pop("renew_totp", None)
            flash("Your new password and authenticator are saved.")
            return redirect(url_for("console.home"))
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    page = render_template(
        "console/renew.html", secret=secret, uri=uri, min_length=MIN_PASSWORD, error=error
    )
    return Response(page, status=400 if error else 200, headers={"Cache-Control": "no-store"})


@console.post("/logout")
def logout() -> Any:
    """Ends the session on the server: a copy of the cookie signs nobody in afterwards."""
    if key := session.get("sid"):
        db = db_session()
        console_sessions.end(db, key)
        db.commit()
    session.clear()
    return redirect(url_for("console.login"))


# The queue and the case page ---------------------------------------------------------


@console.get("/")
@signed_in()
def home() -> Any:
    """Reviewers start at the queue, curators at the overview of their banks."""
    if g.user.role in REVIEW_ROLES:
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.overview"))


@console.get("/queue")
@signed_in(*REVIEW_ROLES)
def queue() -> str:
    db = db_session()
    status = request.args.get("status", "unresolved")
    page, total = queue_rules.page(db, status=status, limit=100, queues=my_queues())
    rows = [(case, cases.explain(case)[0]) for case in page]
    counts = queue_rules.counts(db, my_queues())
    return render_template(
        "console/queue.html", rows=rows, total=total, status=status, counts=counts, now=utcnow()
    )


@console.post("/queue/next")
@signed_in(*REVIEW_ROLES)
def next_case() -> Any:
    """Claim the most urgent case nobody holds, and open it."""
    db = db_session()
    case = review.take_next(db, reviewer(), my_queues(), services().review)
    if case is not None:
        db.commit()
        return redirect(url_for("console.case_page", case_id=case.id))
    flash("No case is waiting for you.")
    return redirect(url_for("console.queue"))


@console.get("/cases/<id:case_id>")
@signed_in(*REVIEW_ROLES)
def case_page(case_id: int) -> str:
    db = db_session()
    case = cases.get_case(db, case_id, my_queues())
    score, reasons = cases.explain(case)
    return render_template(
        "console/case.html",
        case=case,
        score=score,
        reasons=reasons,
        text=_text_pieces(case, revealed=False),
        shown_value=post_view.shown_value,
        sources=cases.match_sources(db, case),
        decision=review.latest_decision(case),
        taxonomy=services().taxonomy,
        reject_reasons=review.REJECT_REASONS,
        needs_break=_needs_break(db, g.user, case.id),
        deliveries=webhooks.deliveries_for(db, case.id),
        reports=reporting.list_reports(db, case_id=case.id),
        reporters=[r.name for r in reporter_admin.all_reporters(db) if r.enabled],
        review=services().review,
        me=reviewer(),
    )


def _limit(user: User) -> int | None:
    """The signed-in reviewer's exposure limit; None while they chose to go on past it."""
    if session.get("break_skipped_until", 0) > utcnow().timestamp():
        return None
    return exposure.limit_for(services().settings.review_exposure_limit, user.wellness)


def _needs_break(db: Any, user: User, case_id: int) -> bool:
    """Whether this case's media stays hidden behind the break prompt: the same rule
    as for API tokens (a case already opened this hour may be opened again)."""
    limit = _limit(user)
    return limit is not None and not exposure.may_look(db, reviewer(), case_id, limit)


def _look(db: Any, case_id: int, revealed: bool) -> None:
    """Count this look, as every door does (`actioners.exposure.look`), or show the break."""
    try:
        exposure.look(db, reviewer(), case_id, limit=_limit(g.user), revealed=revealed)
    except ExposureLimitReached:
        abort(429, "time for a break: the exposure limit for this hour is reached")


@console.post("/break/skip")
@signed_in(*REVIEW_ROLES)
def skip_break() -> Any:
    session["break_skipped_until"] = (utcnow() + timedelta(minutes=BREAK_SKIP_MINUTES)).timestamp()
    db = db_session()
    audit.record(db, reviewer(), audit.USER_BREAK_SKIPPED, reviewer())
    db.commit()
    back = request.form.get("back", "")
    return redirect(back if _is_console_path(back) else url_for("console.queue"))


def _media(case_id: int) -> Any:
    case = cases.get_case(db_session(), case_id, my_queues())
    if case.media is None:
        abort(404, "this case kept no media")
    return case.media


def _text_pieces(case: Case, revealed: bool) -> list[post_view.Piece] | None:
    """The case's post text as the page shows it (None when no text was kept)."""
    if case.text is None:
        return None
    return post_view.pieces(case.text.text, cases.matched_keywords(case), revealed)


@console.get("/cases/<id:case_id>/preview")
@signed_in(*REVIEW_ROLES)
def case_preview(case_id: int) -> Response:
    db = db_session()
    media = _media(case_id)
    _look(db, case_id, revealed=False)
    wellness = g.user.wellness
    image = preview(
        media,
        blur=int(wellness.get("blur", DEFAULT_BLUR)),
        greyscale=bool(wellness.get("greyscale", True)),
    )
    db.commit()
    return Response(image, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@console.post("/cases/<id:case_id>/reveal")
@signed_in(*REVIEW_ROLES)
def reveal(case_id: int) -> Response:
    db = db_session()
    case = cases.get_case(db, case_id, my_queues())
    if case.media is None and case.text is None:
        abort(404, "this case kept no media and no text")
    _look(db, case_id, revealed=True)
    db.commit()
    media = case.media
    page = render_template(
        "console/reveal.html",
        case=case,
        image=(
            f"data:{media.content_type};base64,{base64.b64encode(media.data).decode()}"
            if media is not None
            else None
        ),
        text=_text_pieces(case, revealed=True),
    )
    # Not kept by the browser: going back must not show the copy again unlogged.
    return Response(page, headers={"Cache-Control": "no-store"})


# Workflow steps ------------------------------------------------------------------------


def _step(case_id: int, act: Callable[[Any, Case], Any], done: str) -> Any:
    """Run one workflow step, commit, and come back to the case with its outcome."""
    db = db_session()
    try:
        act(db, cases.get_case(db, case_id, my_queues()))
        db.commit()
        flash(done)
    except DomainError as exc:
        db.rollback()
        flash(f"Not done: {exc.message}", "error")
    return redirect(url_for("console.case_page", case_id=case_id))


@console.post("/cases/<id:case_id>/claim")
@signed_in(*REVIEW_ROLES)
def claim(case_id: int) -> Any:
    policy = services().review
    return _step(case_id, lambda db, c: review.claim(db, c, reviewer(), policy), "Case claimed.")


@console.post("/cases/<id:case_id>/renew")
@signed_in(*REVIEW_ROLES)
def renew(case_id: int) -> tuple[str, int]:
    """Keep the lease while the reviewer stays on the case (the page calls it every minute)."""
    db = db_session()
    try:
        review.claim(
            db,
            cases.get_case(db, case_id, my_queues()),
            reviewer(),
            services().review,
        )
    except DomainError:
        db.rollback()
        return "", 409
    db.commit()
    return "", 204


@console.post("/cases/<id:case_id>/release")
@signed_in(*REVIEW_ROLES)
def release(case_id: int) -> Any:
    admin = g.user.role == Role.ADMIN
    return _step(
        case_id,
        lambda db, c: review.release(db, c, reviewer(), admin=admin),
        "Case returned to the queue.",
    )


@console.post("/cases/<id:case_id>/decide")
@signed_in(*REVIEW_ROLES)
def decide(case_id: int) -> Any:
    form = request.form
    found = services()

    def act(db: Any, case: Case) -> None:
        review.decide(
            db,
            case,
            form.get("decision", ""),
            reviewer(),
            found.review,
            found.taxonomy,
            note=form.get("note", ""),
            classification=form.getlist("classification")
            if form.get("decision") == "confirm"
            else None,
            reason=form.get("reason") or None,
            escalate_to=form.get("escalate_to") or None,
        )

    return _step(case_id, act, "Decision recorded.")


@console.post("/cases/<id:case_id>/approve")
@signed_in(*REVIEW_ROLES)
def approve(case_id: int) -> Any:
    policy = services().review
    return _step(
        case_id, lambda db, c: review.approve(db, c, reviewer(), policy), "Decision approved."
    )


@console.post("/cases/<id:case_id>/undo")
@signed_in(*REVIEW_ROLES)
def undo(case_id: int) -> Any:
    policy = services().review
    admin = g.user.role == Role.ADMIN
    return _step(
        case_id,
        lambda db, c: review.undo(db, c, reviewer(), policy, admin=admin),
        "Decision undone.",
    )


# Wellness settings -------------------------------------------------------------------------


@console.route("/settings", methods=["GET", "POST"])
@signed_in()
def wellness() -> Any:
    limit = services().settings.review_exposure_limit
    if request.method == "POST":
        form = request.form
        try:
            blur = int(form.get("blur", DEFAULT_BLUR))
            own_limit = int(form.get("exposure_limit") or limit)
        except ValueError:
            flash("Blur and limit are whole numbers.", "error")
            return redirect(url_for("console.wellness"))
        db = db_session()
        set_wellness(
            db,
            g.user,
            {
                "blur": max(LEAST_BLUR, min(MOST_BLUR, blur)),
                "greyscale": form.get("greyscale") == "on",
                "exposure_limit": max(1, min(limit, own_limit)),
            },
        )
        db.commit()
        flash("Settings saved.")
        return redirect(url_for("console.wellness"))
    return render_template(
        "console/settings.html",
        wellness=g.user.wellness,
        default_blur=DEFAULT_BLUR,
        least_blur=LEAST_BLUR,
        most_blur=MOST_BLUR,
        limit=limit,
    )


@console.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    return _error(exc.code or 500, exc.name, exc.description or exc.name)


@console.errorhandler(DomainError)
def _domain_error_page(exc: DomainError) -> tuple[str, int]:
    status = {"not_found": 404, "forbidden": 403, "conflict": 409}.get(exc.kind, 400)
    return _error(status, "Not possible", exc.message)


def _error(status: int, title: str, message: str) -> tuple[str, int]:
    """Console errors as a page of the console, not as the API's JSON."""
    page = render_template("console/error.html", status=status, title=title, message=message)
    return page, status


# The curator's pages attach their views to `console` when imported.
from hma.web.console import curation, exchange_pages, match_debug  # noqa: E402, F401
