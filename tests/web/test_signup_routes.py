"""The sign-up, manage and admin endpoints through the FastAPI app on SQLite: every bad input
gets a 4xx a person can act on, CSRF and rate limits hold, and admin answers 401 alike for a
missing or a wrong token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from notifier.config import RateLimitConfig
from notifier.db import notices, subscribers
from notifier.db.engine import write_transaction
from notifier.db.tables import notice_table, subscriber_table
from notifier.messaging.signed_links import make_manage_token
from notifier.web.app import create_app
from tests.web.signup_support import (
    ADMIN_TOKEN,
    PHONE,
    WEB_SECRET,
    csrf_token,
    problems,
    sign_up,
    signup_config,
)

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
HTTPS = "https://testserver"  # the cookie is Secure when the public URL is https


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    app = create_app(signup_config(), engine=sqlite_engine, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False, base_url=HTTPS) as test_client:
        yield test_client


def _subscribers(engine: Engine) -> list[subscribers.SubscriberRow]:
    s = subscriber_table
    with engine.connect() as conn:
        rows = conn.execute(select(s).order_by(s.c.id)).mappings().all()
    return [
        subscribers.SubscriberRow(**{k: r[k] for k in subscribers.SubscriberRow.__slots__})
        for r in rows
    ]


# ---------------------------------------------------------------------- sign-up


def test_an_sms_sign_up_is_stored_unconfirmed_with_one_queued_confirmation(
    client: TestClient, sqlite_engine: Engine
) -> None:
    page = sign_up(client, channel="sms", phone="(617) 555-0123", eligibility_group="65plus")
    assert page.status_code == 200
    assert "Reply YES" in page.text
    (row,) = _subscribers(sqlite_engine)
    assert (row.address, row.postal_code, row.radius_miles) == (PHONE, "02115", 10.0)
    assert row.confirmed_at is None and row.eligibility_group == "65plus"
    with sqlite_engine.connect() as conn:
        assert notices.notice_counts(conn) == {("confirm", "sms", "pending"): 1}


def test_signing_up_an_active_number_changes_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    with write_transaction(sqlite_engine) as conn:
        _, token = subscribers.add_subscriber(
            conn, channel="sms", address=PHONE, postal_code="02139", radius_miles=5, now=NOW
        )
        subscribers.confirm(conn, token, NOW)
    page = sign_up(client, channel="sms", phone=PHONE, postal_code="01060", radius="50")
    assert page.status_code == 200  # the same answer: whether a number is known stays private
    (row,) = _subscribers(sqlite_engine)
    assert (row.postal_code, row.radius_miles, row.active) == ("02139", 5.0, True)
    with sqlite_engine.connect() as conn:
        assert notices.notice_counts(conn) == {}


def test_a_bad_form_comes_back_filled_in_with_every_problem(client: TestClient) -> None:
    page = sign_up(client, channel="email", email="jane@", postal_code="1", lang="de")
    assert page.status_code == 400
    assert 'lang="de"' in page.text and 'value="jane@"' in page.text
    found = problems(page.text)
    assert len(found) == 2
    assert found[1].startswith("Die Postleitzahl &#39;1&#39; kennen wir nicht")


@pytest.mark.parametrize(
    ("cookie", "token"),
    [(None, "valid"), ("other-nonce", "valid"), ("kept", "forged"), ("kept", "")],
)
def test_posts_without_a_matching_csrf_pair_are_refused(
    client: TestClient, sqlite_engine: Engine, cookie: str | None, token: str
) -> None:
    valid = csrf_token(client)
    if cookie is None:
        client.cookies.clear()
    elif cookie != "kept":
        client.cookies.set("notifier_csrf", cookie)
    form = {
        "csrf_token": {"valid": valid, "forged": valid[:-3] + "abc", "": ""}[token],
        "channel": "sms",
        "phone": PHONE,
        "postal_code": "02115",
        "radius": "10",
    }
    page = client.post("/signup", data=form, headers={"Accept-Language": "es-MX,es"})
    assert page.status_code == 403
    assert "Vuelva a cargar la página" in page.text
    assert _subscribers(sqlite_engine) == []


def test_an_oversized_form_is_refused(client: TestClient) -> None:
    page = client.post("/signup", content=b"a=" + b"x" * 20_000)
    assert page.status_code == 413 and "too large" in page.text


def test_the_per_ip_limit_answers_429_with_retry_after(sqlite_engine: Engine) -> None:
    config = signup_config(per_ip=RateLimitConfig(count=2, per_seconds=600))
    with TestClient(create_app(config, engine=sqlite_engine), base_url=HTTPS) as client:
        codes = [
            sign_up(client, channel="email", email=f"p{i}@example.org").status_code
            for i in range(3)
        ]
        last = sign_up(client, channel="email", email="p9@example.org")
    assert codes == [200, 200, 429]
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 200
    assert "Please wait 5 minutes" in last.text


def test_the_phone_prefix_limit_stops_number_pumping(sqlite_engine: Engine) -> None:
    config = signup_config(per_phone_prefix=RateLimitConfig(count=2, per_seconds=3600))
    with TestClient(create_app(config, engine=sqlite_engine), base_url=HTTPS) as client:
        codes = [
            sign_up(client, channel="sms", phone=f"+1617555{n:04d}").status_code
            for n in (101, 102, 103)
        ]
        other_prefix = sign_up(client, channel="sms", phone="+15085550101").status_code
    assert codes == [200, 200, 429]
    assert other_prefix == 200
    assert len(_subscribers(sqlite_engine)) == 3


def test_a_configured_captcha_must_pass(sqlite_engine: Engine) -> None:
    seen: list[str] = []

    async def verifier(answer: str, ip: str) -> bool:
        seen.append(answer)
        return answer == "human"

    from notifier.web import signup

    config = signup_config()
    app = create_app(
        config.model_copy(
            update={
                "web": config.web.model_copy(
                    update={"signup": config.web.signup.model_copy(update={"enabled": False})}
                )
            }
        ),
        engine=sqlite_engine,
    )
    signup.register(app, sqlite_engine, config, captcha=verifier)
    with TestClient(app, base_url=HTTPS) as client:
        refused = sign_up(client, channel="email", email="a@example.org", captcha_response="bot")
        accepted = sign_up(client, channel="email", email="a@example.org", captcha_response="human")
    assert (refused.status_code, accepted.status_code) == (400, 200)
    assert "check that you are a person" in refused.text
    assert seen == ["bot", "human"]


# ---------------------------------------------------------------------- manage


def _active_subscriber(engine: Engine) -> int:
    with write_transaction(engine) as conn:
        sub_id, token = subscribers.add_subscriber(
            conn,
            channel="email",
            address="jane@example.org",
            postal_code="02139",
            radius_miles=5,
            now=NOW,
        )
        subscribers.confirm(conn, token, NOW)
    return sub_id


def test_the_manage_page_changes_area_filters_digest_and_quiet_hours(
    client: TestClient, sqlite_engine: Engine
) -> None:
    sub_id = _active_subscriber(sqlite_engine)
    path = f"/manage/{make_manage_token(WEB_SECRET, sub_id, 'email')}"
    form = {
        "csrf_token": csrf_token(client, path),
        "postal_code": "01060",
        "radius": "25",
        "products": ["Moderna"],
        "digest_minutes": "60",
        "quiet_start": "21",
        "quiet_end": "7",
        "eligibility_group": "conditions",
    }
    page = client.post(path, data=form)
    assert page.status_code == 200 and "Your changes are saved." in page.text
    (row,) = _subscribers(sqlite_engine)
    assert (row.postal_code, row.radius_miles, row.digest_minutes) == ("01060", 25.0, 60)
    assert (row.quiet_start_hour, row.quiet_end_hour) == (21, 7)
    assert row.filters == {"products": ["Moderna"]} and row.eligibility_group == "conditions"

    bad = client.post(path, data={**form, "quiet_end": "", "radius": "0"})
    assert bad.status_code == 400
    assert len(problems(bad.text)) == 2


def test_leaving_from_the_manage_page_opts_out(client: TestClient, sqlite_engine: Engine) -> None:
    sub_id = _active_subscriber(sqlite_engine)
    path = f"/manage/{make_manage_token(WEB_SECRET, sub_id, 'email')}"
    token = csrf_token(client, path)
    assert client.post(f"{path}/leave", data={}).status_code == 403
    page = client.post(f"{path}/leave", data={"csrf_token": token})
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    (row,) = _subscribers(sqlite_engine)
    assert row.opted_out_at is not None


def test_manage_links_that_do_not_work_say_so(client: TestClient, sqlite_engine: Engine) -> None:
    sub_id = _active_subscriber(sqlite_engine)
    edited = make_manage_token(WEB_SECRET, sub_id, "email")[:-2] + "xx"
    foreign = make_manage_token("another-secret-0123456789abc", sub_id, "email")
    nobody = make_manage_token(WEB_SECRET, sub_id + 1, "email")
    wrong_channel = make_manage_token(WEB_SECRET, sub_id, "sms")
    for token, status in ((edited, 400), (foreign, 400), (nobody, 404), (wrong_channel, 404)):
        page = client.get(f"/manage/{token}")
        assert page.status_code == status
        assert "sign up again" in page.text
        assert client.post(f"/manage/{token}/leave", data={}).status_code == status


# ---------------------------------------------------------------------- admin


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": "Bearer "},
    ],
)
def test_admin_answers_401_the_same_for_missing_and_wrong_tokens(
    client: TestClient, headers: dict[str, str]
) -> None:
    reference = client.get("/admin/subscribers")
    for method, path in (
        ("GET", "/admin/subscribers"),
        ("GET", "/admin/providers"),
        ("POST", "/admin/eligibility/65plus/open"),
    ):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401
        assert answer.content == reference.content
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_admin_counts_a_plz_in_its_german_state(client: TestClient) -> None:
    # 50667 is Köln (NW) to a German sign-up; read as a US ZIP it was counted in Iowa.
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for phone, lang in (("+49 151 23456789", "de"), ("+49 151 23456780", "en")):
        page = sign_up(client, channel="sms", phone=phone, postal_code="50667", lang=lang)
        assert page.status_code == 200, problems(page.text)
    email = sign_up(client, channel="email", email="jo@example.org", postal_code="50667")
    assert email.status_code == 200, problems(email.text)  # an English page reads a ZIP
    counts = client.get("/admin/subscribers", headers=auth).json()["subscribers"]
    assert counts == [
        {"channel": "email", "region": "IA", "active": 0, "pending": 1, "left": 0},
        {"channel": "sms", "region": "NW", "active": 0, "pending": 2, "left": 0},
    ]


def test_admin_counts_subscribers_and_opens_a_group(
    client: TestClient, sqlite_engine: Engine
) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    sign_up(client, channel="sms", phone=PHONE, eligibility_group="65plus")
    _active_subscriber(sqlite_engine)
    counts = client.get("/admin/subscribers", headers=auth).json()["subscribers"]
    assert counts == [
        {"channel": "email", "region": "MA", "active": 1, "pending": 0, "left": 0},
        {"channel": "sms", "region": "MA", "active": 0, "pending": 1, "left": 0},
    ]
    assert client.get("/admin/providers", headers=auth).json() == {"providers": []}

    unknown = client.post("/admin/eligibility/everyone/open", headers=auth)
    assert unknown.status_code == 400 and "known groups: 65plus" in unknown.json()["error"]
    bad_body = client.post("/admin/eligibility/65plus/open", headers=auth, content=b"[1")
    assert bad_body.status_code == 400
    bad_zip = client.post(
        "/admin/eligibility/65plus/open", headers=auth, json={"postal_code": "00000"}
    )
    assert bad_zip.status_code == 400 and "unknown postal code" in bad_zip.json()["error"]
    opened = client.post(
        "/admin/eligibility/65plus/open", headers=auth, json={"postal_code": "02115"}
    )
    # The only member has not confirmed yet: nobody to tell, but the group is open.
    assert opened.json() == {"group": "65plus", "newly_opened": True, "notices": 0, "waves": 0}
    with sqlite_engine.connect() as conn:
        assert notices.opened_groups(conn) == {"65plus": NOW}
        kinds = {r.kind for r in conn.execute(select(notice_table.c.kind))}
    assert kinds == {"confirm"}


# ---------------------------------------------------------------------- hostile input


FIELDS = ("channel", "phone", "email", "postal_code", "radius", "products", "age_group", "lang")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    form=st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(st.text(max_size=300), st.sampled_from(["sms", "email", "+16175550123"])),
        max_size=len(FIELDS),
    ),
    raw=st.binary(max_size=64),
)
def test_hostile_sign_up_forms_get_a_readable_4xx_never_a_500(
    hostile_client: TestClient, form: dict[str, str], raw: bytes
) -> None:
    token = csrf_token(hostile_client)
    page = hostile_client.post("/signup", data={"csrf_token": token, **form})
    assert page.status_code in (200, 400), page.text
    if page.status_code == 400:
        assert problems(page.text)
    garbage = hostile_client.post(
        "/signup",
        content=b"csrf_token=" + token.encode() + b"&" + raw,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert garbage.status_code in (200, 400), garbage.text
    odd_link = hostile_client.get("/manage/" + raw.hex() + "." + token[:10])
    assert odd_link.status_code == 400


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from notifier.db.engine import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'h.db'}")
    upgrade(engine)
    config = signup_config(
        per_ip=RateLimitConfig(count=100_000, per_seconds=1),
        per_phone_prefix=RateLimitConfig(count=100_000, per_seconds=1),
    )
    with TestClient(create_app(config, engine=engine), base_url=HTTPS) as client:
        yield client
    engine.dispose()
