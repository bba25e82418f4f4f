"""ConditionsField, its form field, the admin (errors are form errors) and the widget."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError

from django_segments.conditions import (
    ConditionError,
    ConditionsField,
    ConditionsWidget,
    conditions_from_module,
    eval_conditions,
    parse,
)
from django_segments.conditions.widgets import catalog
from tests import conditions_defs
from tests.condapp.models import Rule
from tests.test_conditions import MALFORMED

DEFS = conditions_from_module(conditions_defs)
ADD_URL = "/admin/condapp/rule/add/"
STATIC = Path(__file__).parent.parent / "django_segments" / "static" / "django_segments"


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "show_if", "hide_if"]


def form_data(show_if: Any, hide_if: Any = None) -> dict[str, str]:
    return {
        "name": "r",
        "show_if": show_if if isinstance(show_if, str) else json.dumps(show_if),
        "hide_if": "" if hide_if is None else json.dumps(hide_if),
    }


# --- model field ------------------------------------------------------------------------------


def test_model_field_validate_reports_the_path() -> None:
    rule = Rule(name="r", show_if={"all": ["IS_STAFF", "LEVEL => 2"]})
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    (message,) = excinfo.value.message_dict["show_if"]
    assert message.startswith("Invalid conditions: $.all[1]: unknown operator")


def test_model_field_accepts_valid_trees_and_null() -> None:
    Rule(name="r", show_if={"any": ["NOT IS_STAFF"]}, hide_if=None).full_clean()


def test_field_deconstructs_without_definitions() -> None:
    field = Rule._meta.get_field("hide_if")
    _, path, _, kwargs = field.deconstruct()
    assert path == "django_segments.conditions.fields.ConditionsField"
    assert "definitions" not in kwargs
    assert isinstance(field, ConditionsField)
    assert dict(field.definitions) == dict(DEFS)


@pytest.mark.django_db
def test_eval_conditions_passes_kwargs_and_handles_null() -> None:
    rule = Rule.objects.create(name="r", show_if={"all": ["IN_COHORT", "NOT IS_STAFF"]})
    user = User.objects.create(username="u")
    assert eval_conditions(rule, "show_if", user, cohort=[user.pk])
    assert not eval_conditions(rule, "show_if", user, cohort=[])
    assert rule.hide_if is None
    assert eval_conditions(rule, "hide_if", user) is False
    rule.refresh_from_db()
    assert rule.show_if == {"all": ["IN_COHORT", "NOT IS_STAFF"]}
    with pytest.raises(TypeError, match=r"Rule\.name is not a ConditionsField"):
        eval_conditions(rule, "name", user)


@pytest.mark.django_db
def test_eval_conditions_uses_the_parse_cache() -> None:
    rule = Rule.objects.create(name="r", show_if={"all": ["IS_STAFF"]})
    field = Rule._meta.get_field("show_if")
    assert isinstance(field, ConditionsField)
    assert field.tree(rule) is field.tree(Rule.objects.get(pk=rule.pk))


@pytest.mark.django_db
def test_eval_conditions_on_a_stored_malformed_value_raises() -> None:
    rule = Rule.objects.create(name="r")
    Rule.objects.filter(pk=rule.pk).update(show_if={"all": ["NOPE"]})
    rule.refresh_from_db()
    with pytest.raises(ConditionError, match=r"\$\.all\[0\]: unknown condition"):
        eval_conditions(rule, "show_if", None)


# --- form field ------------------------------------------------------------------------------


SHOWN_MALFORMED = [m for m in MALFORMED if m[0] is not None]


@pytest.mark.parametrize(("data", "path", "message"), SHOWN_MALFORMED)
def test_form_rejects_every_malformed_tree(data, path, message) -> None:
    form = RuleForm(data=form_data({"all": []}, data))
    assert not form.is_valid()
    assert list(form.errors) == ["hide_if"]
    (error,) = form.errors["hide_if"]
    assert error.startswith(f"Invalid conditions: {path}: ")
    assert message in error


@pytest.mark.parametrize("empty", ["null", ""])
def test_required_field_needs_a_value(empty) -> None:
    form = RuleForm(data=form_data(empty))
    assert not form.is_valid()
    assert form.errors["show_if"] == ["This field is required."]


@pytest.mark.parametrize("data", [{}, [], ""])
def test_model_validation_treats_empty_containers_as_malformed(data) -> None:
    rule = Rule(name="r", show_if={"all": []}, hide_if=data)
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert excinfo.value.message_dict["hide_if"][0].startswith("Invalid conditions: $: ")


def test_form_rejects_invalid_json_text() -> None:
    form = RuleForm(data=form_data('{"all": [}'))
    assert not form.is_valid()
    assert form.errors["show_if"] == ["Enter a valid JSON."]


def test_form_accepts_a_valid_tree_and_keeps_it() -> None:
    tree = {"any": ["EMAIL_DOMAIN gmail.com", {"NOT": {"all": ["IS_STAFF"]}}]}
    form = RuleForm(data=form_data(tree, {"all": []}))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["show_if"] == tree
    assert form.cleaned_data["hide_if"] == {"all": []}


# --- admin ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_add_page_shows_two_independent_editors(admin_client) -> None:
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("data-ds-conditions") == 2
    assert html.count('<script type="application/json">') == 2
    assert 'name="show_if"' in html
    assert 'name="hide_if"' in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids on the page"
    # Media is included once, from the package's own static files.
    assert html.count("django_segments/conditions/conditions.js") == 1
    assert html.count("django_segments/conditions/conditions.css") == 1
    assert "The e-mail address ends with @KEY (case-insensitive)." in html
    assert "data-ds-example=" in html


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "path", "message"), SHOWN_MALFORMED)
def test_admin_shows_malformed_trees_as_form_errors(admin_client, data, path, message) -> None:
    response = admin_client.post(ADD_URL, form_data({"all": []}, data))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["hide_if"]
    assert errors["hide_if"][0].startswith(f"Invalid conditions: {path}: ")
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_admin_saves_a_valid_tree(admin_client) -> None:
    tree = {"all": ["NOT EMAIL_DOMAIN gmail.com", "USERNAME_LENGTH > 3"]}
    response = admin_client.post(ADD_URL, form_data(tree))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.show_if == tree
    assert rule.hide_if is None
    staff = User.objects.get(username="admin")
    assert eval_conditions(rule, "show_if", staff) is True


@pytest.mark.django_db
def test_admin_change_page_renders_a_stored_tree(admin_client) -> None:
    rule = Rule.objects.create(name="r", show_if={"any": ["IS_STAFF"]})
    response = admin_client.get(f"/admin/condapp/rule/{rule.pk}/change/")
    assert response.status_code == 200
    assert "{&quot;any&quot;: [&quot;IS_STAFF&quot;]}" in response.content.decode()


# --- widget -------------------------------------------------------------------------------


def test_catalog_describes_every_condition_with_examples_and_docstring() -> None:
    entries = catalog(DEFS, seed=1)
    assert [e["name"] for e in entries] == [c.condstr for _, cs in DEFS.groups() for c in cs]
    by_name = {e["name"]: e for e in entries}
    assert by_name["EMAIL_DOMAIN"]["description"] == ("The e-mail address ends with @KEY (case-insensitive).")
    assert by_name["ID_PARITY"]["keys_allowed"] == ["even", "odd"]
    assert by_name["JOINED_ON"]["operators"] == ["before", "after", "on"]
    assert by_name["PALINDROME"]["sql"] is False
    assert by_name["USERNAME_LENGTH"]["sql"] is True
    assert by_name["LEVEL"]["sql"] is False
    for entry in entries:
        assert entry["examples"], entry["name"]
        for example in entry["examples"]:
            assert example.split()[0] == entry["name"]
            if "<key>" not in example:
                parse(example, definitions=DEFS)
    json.dumps(entries)


def test_examples_are_seedable() -> None:
    assert catalog(DEFS, seed=7) == catalog(DEFS, seed=7)
    assert catalog(DEFS, seed=7) != catalog(DEFS, seed=8)
    widget = ConditionsWidget(definitions="tests.conditions_defs", seed=3)
    assert widget.render("f", None) == widget.render("f", None)


def test_widget_renders_without_a_registry(settings) -> None:
    settings.SEGMENTS_CONDITIONS = None
    html = ConditionsWidget().render("f", '{"all": []}')
    assert "No conditions are registered" in html
    assert "{&quot;all&quot;: []}" in html


def test_static_files_are_shipped_and_self_contained() -> None:
    for name in ("conditions.js", "conditions.css"):
        found = finders.find(f"django_segments/conditions/{name}")
        assert found, name
        text = Path(str(found)).read_text()
        assert "http://" not in text
        assert "https://" not in text
        assert "getElementById" not in text
    template = Path(__file__).parent.parent / "django_segments/templates/django_segments"
    assert "http" not in (template / "conditions/widget.html").read_text()


# --- the editor's model functions, under Node when available ---------------------------------

NODE = shutil.which("node")


def run_node(script: str) -> Any:
    source = STATIC / "conditions" / "conditions.js"
    program = f"const m = require({json.dumps(str(source))});\n{script}"
    result = subprocess.run(  # noqa: S603 - fixed program, trusted input
        [str(NODE), "-e", program], capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_editor_model_round_trips_like_the_server() -> None:
    trees = [
        {"all": []},
        {"any": ["NOT IS_STAFF", {"NOT": {"all": ["LEVEL >= 5", "EMAIL_DOMAIN gmail.com"]}}]},
        {"all": [{"any": [{"all": ["NOT NOT IS_STAFF"]}]}]},
        {"NOT": "EMAIL_DOMAIN gmail.com"},
    ]
    script = (
        f"const trees = {json.dumps(trees)};\n"
        "console.log(JSON.stringify(trees.map(t => m.toJSON(m.fromJSON(t)))));"
    )
    out = run_node(script)
    for tree, edited in zip(trees, out, strict=True):
        assert parse(edited, definitions=DEFS) == parse(tree, definitions=DEFS)
    assert out[1] == parse(trees[1], definitions=DEFS).encode()
    assert out[3] == "NOT EMAIL_DOMAIN gmail.com"


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_editor_splits_and_joins_rule_strings() -> None:
    entries = {e["name"]: e for e in catalog(DEFS, seed=0)}
    script = (
        f"const e = {json.dumps(entries)};\n"
        "console.log(JSON.stringify([\n"
        "  m.splitLeaf(['SCORE', 'math', '>=', '5'], e.SCORE),\n"
        "  m.splitLeaf(['SCORE', '<', '2'], e.SCORE),\n"
        "  m.splitLeaf(['EMAIL_DOMAIN', 'gmail.com'], e.EMAIL_DOMAIN),\n"
        "  m.joinLeaf({name: 'SCORE', key: '', op: '', operand: '3'}, e.SCORE),\n"
        "  m.joinLeaf({name: 'IS_STAFF', key: 'x', op: '', operand: ''}, e.IS_STAFF),\n"
        "]));"
    )
    out = run_node(script)
    assert out[0] == {"name": "SCORE", "key": "math", "op": ">=", "operand": "5"}
    assert out[1] == {"name": "SCORE", "key": "", "op": "<", "operand": "2"}
    assert out[2] == {"name": "EMAIL_DOMAIN", "key": "gmail.com", "op": "", "operand": ""}
    assert out[3] == ["SCORE", "<", "3"]
    assert out[4] == ["IS_STAFF"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_editor_rejects_what_it_cannot_show() -> None:
    script = (
        "const out = [];\n"
        "for (const bad of [{}, {all: 1}, {all: [], any: []}, {x: []}, 3]) {\n"
        "  try { m.fromJSON(bad); out.push(null); } catch (e) { out.push(e.message); }\n"
        "}\n"
        "console.log(JSON.stringify(out));"
    )
    out = run_node(script)
    assert None not in out
    assert out[1] == '"all" must be a list'


# A minimal DOM, enough for the editor: elements, bubbling events and simple selectors.
FAKE_DOM = r"""
class El {
  constructor(tag) {
    this.tagName = (tag || "").toUpperCase(); this.children = []; this.parentNode = null;
    this.attributes = {}; this.listeners = {}; this.dataset = {}; this._text = "";
    this.className = ""; this.value = ""; this.checked = false; this.type = "";
    const self = this;
    this.classList = {
      toggle(name, on) {
        const set = new Set(self.className.split(/\s+/).filter(Boolean));
        if (on) set.add(name); else set.delete(name);
        self.className = [...set].join(" ");
      },
    };
  }
  appendChild(child) { child.parentNode = this; this.children.push(child); return child; }
  set textContent(text) { this.children = []; this._text = String(text); }
  get textContent() { return this._text + this.children.map(c => c.textContent).join(""); }
  setAttribute(key, value) { this.attributes[key] = String(value); }
  getAttribute(key) { return key in this.attributes ? this.attributes[key] : null; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  fire(type) {
    const event = { type: type, target: this };
    for (let n = this; n; n = n.parentNode) (n.listeners[type] || []).forEach(fn => fn(event));
  }
  matches(sel) {
    let m;
    if ((m = sel.match(/^\[([\w-]+)\]$/))) return this.getAttribute(m[1]) !== null;
    if ((m = sel.match(/^(\w+)\[([\w-]+)="([^"]*)"\]$/)))
      return this.tagName === m[1].toUpperCase() && this.getAttribute(m[2]) === m[3];
    if ((m = sel.match(/^\.([\w-]+)$/))) return this.className.split(/\s+/).includes(m[1]);
    if (/^\w+$/.test(sel)) return this.tagName === sel.toUpperCase();
    throw new Error("unsupported selector " + sel);
  }
  querySelectorAll(sel) {
    const out = [];
    const walk = n => n.children.forEach(c => { if (c.matches(sel)) out.push(c); walk(c); });
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  closest(sel) {
    for (let n = this; n; n = n.parentNode) if (n.tagName && n.matches(sel)) return n;
    return null;
  }
  contains(other) {
    for (let n = other; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
}
global.document = {
  createElement: tag => new El(tag),
  createTextNode: text => { const n = new El(""); n._text = text; return n; },
};
function widget(parent, catalog, value) {
  const box = parent.appendChild(new El("div"));
  box.setAttribute("data-ds-conditions", "");
  const script = box.appendChild(new El("script"));
  script.setAttribute("type", "application/json");
  script._text = JSON.stringify(catalog);
  const editor = box.appendChild(new El("div"));
  editor.setAttribute("data-ds-editor", "");
  const textarea = box.appendChild(new El("textarea"));
  textarea.value = value;
  const status = box.appendChild(new El("p"));
  status.setAttribute("data-ds-status", "");
  const example = box.appendChild(new El("button"));
  example.setAttribute("data-ds-example", catalog[0].examples[0]);
  return { box, editor, textarea, status, example };
}
const buttons = (root, label) => root.querySelectorAll("button").filter(b => b.textContent === label);
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_two_editors_on_one_page_work_independently() -> None:
    entries = catalog(DEFS, seed=2)
    script = (
        FAKE_DOM
        + f"const cat = {json.dumps(entries)};\n"
        + r"""
const page = new El("body");
const a = widget(page, cat, '{"all": ["IS_STAFF"]}');
const b = widget(page, cat, "");
const hidden = page.appendChild(new El("div"));
hidden.className = "empty-form";
const c = widget(hidden, cat, "");
m.initAll(page);
m.initAll(page);  // a second run must not bind twice
const out = {};
out.bound = [a, b, c].map(w => w.box.dataset.dsReady || null);
out.rowsA = a.editor.querySelectorAll("input").filter(i => i.type === "checkbox").length;
out.emptyB = b.textarea.value;
buttons(b.editor, "+ condition")[0].fire("click");
out.afterAddB = JSON.parse(b.textarea.value);
out.unchangedA = a.textarea.value;
const notBox = a.editor.querySelectorAll("input").filter(i => i.type === "checkbox")[1];
notBox.checked = true;
notBox.fire("change");
out.negatedA = JSON.parse(a.textarea.value);
buttons(a.editor, "+ group")[0].fire("click");
out.groupA = JSON.parse(a.textarea.value);
const groupOp = a.editor.querySelectorAll("select")[0];
groupOp.value = "any";
groupOp.fire("change");
out.anyA = JSON.parse(a.textarea.value);
b.example.fire("click");
out.exampleB = JSON.parse(b.textarea.value);
a.textarea.value = '{"all": [';
a.textarea.fire("input");
out.statusA = a.status.textContent;
out.statusB = b.status.textContent;
out.finalB = JSON.parse(b.textarea.value);
buttons(b.editor, "remove")[0].fire("click");
out.removedB = JSON.parse(b.textarea.value);
console.log(JSON.stringify(out));
"""
    )
    out = run_node(script)
    first_example = entries[0]["examples"][0]
    assert out["bound"] == ["1", "1", None]
    assert out["rowsA"] == 2  # the group's NOT and the leaf's NOT
    assert out["emptyB"] == ""
    assert out["afterAddB"] == {"all": [first_example]}
    assert out["unchangedA"] == '{"all": ["IS_STAFF"]}'
    assert out["negatedA"] == {"all": ["NOT IS_STAFF"]}
    assert out["groupA"] == {"all": ["NOT IS_STAFF", {"all": []}]}
    assert out["anyA"] == {"any": ["NOT IS_STAFF", {"all": []}]}
    assert out["exampleB"] == {"all": [first_example, first_example]}
    assert out["statusA"].startswith("Structured editor paused")
    assert out["statusB"] == ""
    assert out["finalB"] == out["exampleB"]
    assert out["removedB"] == {"all": [first_example]}
    for tree in (out["afterAddB"], out["negatedA"], out["anyA"], out["exampleB"]):
        parse(tree, definitions=DEFS)


# --- numbers Python's JSON parser refuses (issue 22, item 10) -------------------------------

#: A JSON number of 5,000 digits: ``json.loads`` raises a plain ValueError (Python's limit
#: on int digits), not the ``JSONDecodeError`` Django's form field turns into a form error.
HUGE = '{"all": [' + "9" * 5000 + "]}"


def test_form_reports_a_huge_number_as_a_form_error() -> None:
    form = RuleForm(data=form_data(HUGE))
    assert not form.is_valid()
    (message,) = form.errors["show_if"]
    assert message.startswith("Enter a valid JSON: ")
    assert "digits" in message
    assert "9" * 50 not in message  # the value is not echoed
    assert "9" * 5000 in str(form["show_if"])  # the bound field renders what was typed


def test_form_reports_json_nested_beyond_the_stack_as_a_form_error() -> None:
    form = RuleForm(data=form_data("[" * 100_000 + "]" * 100_000))
    assert not form.is_valid()
    assert form.errors["show_if"] == ["Enter a valid JSON: nested too deeply."]


@pytest.mark.django_db
def test_admin_add_and_change_pages_report_a_huge_number(admin_client) -> None:
    response = admin_client.post(ADD_URL, form_data({"all": []}, HUGE))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["hide_if"]
    rule = Rule.objects.create(name="r", show_if={"all": []})
    response = admin_client.post(f"/admin/condapp/rule/{rule.pk}/change/", form_data(HUGE))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["show_if"]
    assert Rule.objects.get().show_if == {"all": []}


@pytest.mark.django_db
def test_user_segment_add_change_and_preview_pages_report_a_huge_number(admin_client) -> None:
    from django.urls import reverse

    from django_segments.models import UserSegment

    data = {"name": "VIP", "slug": "vip", "priority": "0", "sql": "", "static_ids": "1", "method": ""}
    data["conditions"] = HUGE
    segment = UserSegment.objects.create(name="Gold", slug="gold", static_ids="1")
    urls = [
        reverse("admin:django_segments_usersegment_add"),
        reverse("admin:django_segments_usersegment_change", args=[segment.pk]),
        reverse("admin:django_segments_usersegment_preview"),
        reverse("admin:django_segments_usersegment_preview_change", args=[segment.pk]),
    ]
    for url in urls:
        response = admin_client.post(url, data)
        assert response.status_code == 200, url
        context = response.context
        form = context["adminform"].form if "adminform" in context else context["form"]
        assert list(form.errors) == ["conditions"], (url, form.errors)
        assert form.errors["conditions"][0].startswith("Enter a valid JSON: "), url
    assert list(UserSegment.objects.values_list("slug", flat=True)) == ["gold"]
