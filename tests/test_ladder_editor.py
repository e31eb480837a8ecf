"""The ladder editor: the same linter as `yesladder lint` on the text being typed, each finding on
its line; publishing through load's path (errors never, warnings only when confirmed), drafts
kept per user, a stale publish refused with the other's diff, versions with who and when,
rollback as a new version; `yesladder export` and a `load` of a file older than the dashboard."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.staff import member
from yesladder.funnels import editing
from yesladder.funnels.models import Draft, Funnel, FunnelVersion
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.team.models import AuditEntry

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
B2B = EXAMPLES / "b2b-ladder.yaml"
OLD_TITLE = "title: The 5 leaks in your sales pipeline"
EDIT = "/dashboard/funnels/b2b-ladder/edit/"
CHECK = EDIT + "check/"


@pytest.fixture
def b2b() -> Funnel:
    load_funnel(read_spec(B2B))
    return Funnel.objects.get(key="b2b-ladder")


def signed_in(username: str, role: str) -> Client:
    client = Client()
    client.force_login(member(username, role))
    return client


def retitled(title: str = "Five leaks, fixed") -> str:
    return B2B.read_text().replace(OLD_TITLE, f"title: {title}", 1)


def line_of(source: str, needle: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if needle in line)


def test_the_live_check_names_the_line_and_field_of_a_spec_error(b2b):
    editor = signed_in("ed", "editor")
    broken = B2B.read_text().replace("kind: content", "kind: article", 1)
    answer = editor.post(CHECK, {"text": broken, "based_on": 1}).json()
    (problem,) = answer["problems"]
    assert problem["line"] == line_of(broken, "kind: article")
    assert problem["field"] == "steps[0].kind"
    assert "unknown step kind 'article'" in problem["message"]
    assert (answer["errors"], answer["ladder"], answer["previews"]) == (1, [], [])
    # Invalid YAML says where too; nothing typed is lost: the draft keeps it.
    answer = editor.post(CHECK, {"text": "funnel: b2b-ladder\nsteps: [", "based_on": 1}).json()
    assert answer["problems"][0]["line"] == 2 and "YAML" in answer["problems"][0]["message"]
    assert Draft.objects.get().text == "funnel: b2b-ladder\nsteps: ["


def test_a_lint_finding_comes_on_its_line_with_rule_and_hint(b2b):
    editor = signed_in("ed", "editor")
    # A first rung that asks for the phone number of a cold visitor: YL001 on that step.
    heavy = B2B.read_text().replace(
        "    kind: content\n", "    kind: content\n    ask: {fields: [email, phone]}\n", 1
    )
    answer = editor.post(CHECK, {"text": heavy, "based_on": 1}).json()
    found = [p for p in answer["problems"] if p["rule"] == "YL001"]
    assert found and found[0]["severity"] == "error" and found[0]["hint"]
    assert found[0]["line"] == line_of(heavy, "ask: {fields: [email, phone]}")
    assert answer["ladder"][0]["step"] == "guide" and answer["ladder"][0]["new_fields"]


def test_the_check_shows_the_ladder_the_diff_and_previews_of_the_draft(b2b, client):
    editor = signed_in("ed", "editor")
    answer = editor.post(CHECK, {"text": retitled(), "based_on": 1}).json()
    assert answer["errors"] == 0
    assert [r["step"] for r in answer["ladder"]][:2] == ["guide", "checklist"]
    assert (
        f"-    {OLD_TITLE}" in answer["diff"] and "+    title: Five leaks, fixed" in answer["diff"]
    )
    guide = answer["previews"][0]
    assert guide["step"] == "guide"
    page = client.get(guide["url"])  # a signed link: no sign-in needed, counted nowhere
    assert page.status_code == 200 and "Five leaks, fixed" in page.content.decode()
    assert FunnelVersion.objects.filter(funnel=b2b, variant="").count() == 1
    assert client.get(guide["url"].replace("/p/", "/p/x")).status_code == 404


def test_publish_stores_the_next_version_and_visitors_get_it(b2b, client):
    editor = signed_in("ed", "editor")
    response = editor.post(EDIT, {"text": retitled(), "based_on": 1, "action": "publish"})
    assert response.status_code == 302 and response["Location"].endswith("/versions/")
    version = b2b.current_version()
    assert (version.number, version.origin, version.author, version.based_on) == (
        2,
        "editor",
        "ed",
        1,
    )
    assert "Five leaks, fixed" in client.get("/f/b2b-ladder/guide/").content.decode()
    entry = AuditEntry.objects.get(action="funnel.publish", actor="ed")
    assert (entry.actor, entry.before, entry.after) == (
        "ed",
        {"version": 1},
        {"version": 2, "origin": "editor"},
    )
    assert not Draft.objects.exists()  # published: the draft has done its work
    versions = editor.get("/dashboard/funnels/b2b-ladder/versions/").content.decode()
    assert "published in the dashboard&#x27;s editor" in versions


def test_errors_are_never_published_and_warnings_need_a_confirmation(b2b):
    editor = signed_in("ed", "editor")
    broken = retitled().replace("kind: magnet", "kind: magnets", 1)
    response = editor.post(EDIT, {"text": broken, "based_on": 1, "action": "publish"})
    assert response.status_code == 400
    assert "not published: 1 error(s)" in response.content.decode()
    assert b2b.current_version().number == 1
    assert Draft.objects.get().text == broken  # kept
    # A pushy call to action is a warning (YL009): published only when confirmed.
    warned = retitled().replace("cta: Show me the leak checklist", "cta: Hurry, act now", 1)
    checked = editing.check(warned, b2b)
    assert checked.warnings == 1 and not checked.errors
    response = editor.post(EDIT, {"text": warned, "based_on": 1, "action": "publish"})
    assert response.status_code == 409 and "publish anyway only if" in response.content.decode()
    assert b2b.current_version().number == 1
    response = editor.post(EDIT, {"text": warned, "based_on": 1, "action": "publish",
                                  "confirm": "on"})  # fmt: skip
    assert response.status_code == 302 and b2b.current_version().number == 2


def test_a_stale_publish_is_refused_with_the_other_s_diff(b2b):
    ada, bob = signed_in("ada", "editor"), signed_in("bob", "editor")
    bob_text = retitled("Bob's title")
    ada.post(CHECK, {"text": retitled("Ada's title"), "based_on": 1})
    assert bob.post(EDIT, {"text": bob_text, "based_on": 1, "action": "publish"}).status_code == 302
    response = ada.post(EDIT, {"text": retitled("Ada's title"), "based_on": 1, "action": "publish"})
    page = response.content.decode()
    assert response.status_code == 409
    assert "you started from version 1, and version 2 was published since by bob" in page
    assert "+    title: Bob&#x27;s title" in page  # their change, shown
    assert b2b.current_version().number == 2
    assert Draft.objects.get(user__username="ada").text == retitled("Ada's title")
    # Having read it, Ada publishes over version 2 on purpose.
    response = ada.post(
        EDIT, {"text": retitled("Ada's title"), "based_on": 1, "over": 2, "action": "publish"}
    )
    assert response.status_code == 302
    latest = b2b.current_version()
    assert (latest.number, latest.author, latest.based_on) == (3, "ada", 2)


def test_a_draft_is_kept_per_user_until_published_or_discarded(b2b):
    ada, bob = signed_in("ada", "editor"), signed_in("bob", "editor")
    ada.post(CHECK, {"text": retitled("Ada's draft"), "based_on": 1})
    assert "Ada&#x27;s draft" in ada.get(EDIT).content.decode()
    assert "Ada&#x27;s draft" not in bob.get(EDIT).content.decode()
    ada.post(EDIT, {"text": retitled("Ada's draft"), "based_on": 1, "action": "discard"})
    assert not Draft.objects.exists()
    assert OLD_TITLE in ada.get(EDIT).content.decode()


def test_rollback_publishes_the_old_version_as_the_newest(b2b, client):
    editor = signed_in("ed", "editor")
    editor.post(EDIT, {"text": retitled(), "based_on": 1, "action": "publish"})
    confirm = editor.get("/dashboard/funnels/b2b-ladder/versions/1/rollback/")
    assert confirm.status_code == 200 and "published again as version 3" in confirm.content.decode()
    assert b2b.current_version().number == 2  # a GET changes nothing
    response = editor.post("/dashboard/funnels/b2b-ladder/versions/1/rollback/", {"current": 2})
    assert response.status_code == 302
    latest = b2b.current_version()
    first = b2b.versions.get(number=1, variant="")
    assert (latest.number, latest.origin, latest.digest) == (3, "rollback", first.digest)
    assert (
        "The 5 leaks in your sales pipeline" in client.get("/f/b2b-ladder/guide/").content.decode()
    )
    entry = AuditEntry.objects.get(action="funnel.rollback")
    assert entry.after == {"version": 3, "origin": "rollback", "copy of": 1}
    # From a page shown before version 3: refused, nothing more stored.
    stale = editor.post("/dashboard/funnels/b2b-ladder/versions/2/rollback/", {"current": 2})
    assert stale.status_code == 409 and b2b.current_version().number == 3


def test_versions_compare_any_two(b2b):
    editor = signed_in("ed", "editor")
    editor.post(EDIT, {"text": retitled(), "based_on": 1, "action": "publish"})
    page = editor.get("/dashboard/funnels/b2b-ladder/versions/?a=1&b=2").content.decode()
    assert "--- version 1" in page and "+    title: Five leaks, fixed" in page
    viewer = signed_in("vera", "viewer")
    page = viewer.get("/dashboard/funnels/b2b-ladder/versions/").content.decode()
    assert "Roll back to this" not in page and "ed" in page


def test_a_viewer_can_neither_edit_nor_publish_nor_roll_back(b2b):
    viewer = signed_in("vera", "viewer")
    assert viewer.get(EDIT).status_code == 403
    assert viewer.post(CHECK, {"text": retitled(), "based_on": 1}).status_code == 403
    assert (
        viewer.post(EDIT, {"text": retitled(), "based_on": 1, "action": "publish"}).status_code
        == 403
    )
    assert (
        viewer.post(
            "/dashboard/funnels/b2b-ladder/versions/1/rollback/", {"current": 1}
        ).status_code
        == 403
    )
    assert (
        viewer.post("/dashboard/new-funnel/", {"text": "x", "action": "publish"}).status_code == 403
    )
    assert b2b.versions.count() == FunnelVersion.objects.filter(funnel=b2b).count()
    assert b2b.current_version().number == 1 and not Draft.objects.exists()


def test_a_new_funnel_starts_from_the_init_template(db, client):
    editor = signed_in("ed", "editor")
    page = editor.get("/dashboard/new-funnel/").content.decode()
    assert "funnel: my-funnel" in page and "0 errors" in page
    source = editing.starting_text(None).replace("funnel: my-funnel", "funnel: from-the-web")
    response = editor.post(
        "/dashboard/new-funnel/", {"text": source, "action": "publish", "confirm": "on"}
    )
    assert response.status_code == 302
    version = Funnel.objects.get(key="from-the-web").current_version()
    assert version.number == 1 and version.origin == "editor"
    assert version.spec.steps[0].body.startswith("# ")  # the template's guide.md, read in
    assert client.get("/f/from-the-web/").status_code in (200, 302)
    # The same key again is refused: it is that funnel's editor's job.
    again = editor.post(
        "/dashboard/new-funnel/", {"text": source, "action": "publish", "confirm": "on"}
    )
    assert again.status_code == 400 and "exists already" in again.content.decode()


def test_hostile_text_stays_text(b2b):
    editor = signed_in("ed", "editor")
    hostile = retitled("</textarea><script>alert(1)</script>")
    page = editor.post(EDIT, {"text": hostile, "based_on": 1, "action": "check"}).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;/textarea&gt;&lt;script&gt;" in page


def test_export_writes_the_stored_text_with_its_version(b2b):
    out = io.StringIO()
    call_command("export", "b2b-ladder", stdout=out)
    exported = out.getvalue()
    assert exported.startswith("# exported from yesladder: b2b-ladder version 1\n")
    assert exported.split("\n", 1)[1] == B2B.read_text()  # comments kept
    with pytest.raises(CommandError, match="has no version 9"):
        call_command("export", "b2b-ladder", "--version", "9", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no funnel 'nope'"):
        call_command("export", "nope", stdout=io.StringIO())


def test_load_of_a_file_older_than_the_dashboard_says_so(b2b, tmp_path):
    editor = signed_in("ed", "editor")
    editor.post(EDIT, {"text": retitled(), "based_on": 1, "action": "publish"})
    # Someone's checkout from before the dashboard's edit, changed locally.
    (tmp_path / "b2b-ladder").symlink_to(EXAMPLES / "b2b-ladder")  # the files it points at
    old = tmp_path / "b2b-ladder.yaml"
    changed = B2B.read_text().replace("The 5 leaks in your sales pipeline", "A local title", 1)
    old.write_text(changed)
    err = io.StringIO()
    with pytest.raises(CommandError, match="not loaded"):
        call_command("load", str(old), stdout=io.StringIO(), stderr=err)
    assert "version 2 was published in the dashboard's editor by ed" in err.getvalue()
    assert "yesladder export b2b-ladder" in err.getvalue()
    assert b2b.current_version().number == 2
    out = io.StringIO()
    call_command("load", str(old), "--keep-dashboard", stdout=out)
    assert "kept version 2 from the dashboard" in out.getvalue()
    # Exported, edited and loaded: the file says what it was taken from, so it goes in.
    exported = io.StringIO()
    call_command("export", "b2b-ladder", stdout=exported)
    old.write_text(exported.getvalue().replace("Five leaks, fixed", "Five leaks, in git"))
    call_command("load", str(old), stdout=io.StringIO())
    latest = b2b.current_version()
    assert (latest.number, latest.origin, latest.based_on) == (3, "file", 2)
    assert AuditEntry.objects.filter(action="funnel.publish").count() == 3
    # --force stores an old file anyway.
    old.write_text(changed)
    call_command("load", str(old), "--force", stdout=io.StringIO())
    assert b2b.current_version().number == 4


def test_only_the_editor_s_pages_may_run_script(b2b):
    editor = signed_in("ed", "editor")
    policy = editor.get(EDIT)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "script-src" not in editor.get("/dashboard/funnels/b2b-ladder/versions/")[
        "Content-Security-Policy"]  # fmt: skip


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_libyaml_reads_a_spec_as_the_pure_parser_does(example, monkeypatch):
    """The live lint parses with libyaml for speed: the same data and the same lines."""
    import yaml

    from yesladder.funnels.spec import yamlsource

    fast = yamlsource.parse(example.read_text())
    monkeypatch.setattr(yamlsource, "FAST_LOADER", yaml.SafeLoader)
    assert fast[0] == yamlsource.parse(example.read_text())[0]
    assert fast[1].lines == yamlsource.parse(example.read_text())[1].lines
