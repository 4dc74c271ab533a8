"""The loader and the renderer against hostile input, directly (the CLI corpus is in
tests/integration/test_hostile_corpus.py): YAML read as 1.2, bounded aliases, depth, integers and file
kinds; templates bounded in work and size; environment values as data; values cut short in messages.

Generated cases use hypothesis, derandomized (the same examples on every run), without deadlines:
each example is bounded by `answer` instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.errors import ConfigError, short
from remediator.loader import yamlfile
from remediator.loader.inventory import check_connection
from remediator.loader.schema import check_args, coerce_environment, module_schema
from remediator.templating import EnvValue, Renderer, TemplateError
from tests.hostile import (
    RAW_CONTROL,
    SECRET,
    SECRET_NAME,
    TEMPLATE_BOMBS,
    YAML_SCALARS,
    alias_bomb,
    answer,
    block_nesting,
    flow_nesting,
)

GENERATED = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def parse(text: str) -> Any:
    return answer(yamlfile.parse, text, "f.yml")


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


# --- YAML 1.2 scalars --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1:4", "1:4"),  # YAML 1.1: 64 (base 60)
        ("1:30:00", "1:30:00"),
        ("010", "010"),  # YAML 1.1: 8
        ("0b101", "0b101"),  # YAML 1.1: 5
        ("1_000", "1_000"),  # YAML 1.1: 1000
        ("yes", "yes"),  # YAML 1.1: True
        ("Off", "Off"),
        ("y", "y"),
        ("14", 14),
        ("-3", -3),
        ("0", 0),
        ("0o17", 15),
        ("0x1F", 31),
        ("true", True),
        ("False", False),
        ("6.5", 6.5),
        ("1e3", 1000.0),
        ("~", None),
        ("null", None),
        ("", None),
    ],
)
def test_scalars_are_read_as_yaml_1_2(text: str, value: Any) -> None:
    assert parse(f"a: {text}\n") == {"a": value}


def test_dates_are_still_dates() -> None:
    assert str(parse("a: 2026-01-02\n")["a"]) == "2026-01-02"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("!!int abc", "'abc' is not an integer"),
        ("!!int 1:4", "'1:4' is not an integer"),
        ("!!float x", "'x' is not a number"),
        ("!!bool yes", "'yes' is not a boolean"),
        ("!!timestamp nope", "'nope' is not a date"),
        ("9" * 31, "an integer of 31 digits is too large"),
        ("5" * 5000, "an integer of 5000 digits is too large"),
        ("0x" + "f" * 40, "an integer of 40 digits is too large"),
        ("!!binary aGk=", "YAML tag '!!binary' is not supported"),
        ("!!set {a}", "YAML tag '!!set' is not supported"),
        ("!!omap [a: 1]", "YAML tag '!!omap' is not supported"),
        ("!!pairs [a: 1]", "YAML tag '!!pairs' is not supported"),
        ("!!python/object/apply:os.system [id]", "YAML tag '!!python/object/apply:os.system' is not supported"),
        ("!vault abc", "YAML tag '!vault' is not supported"),
    ],
)
def test_scalars_that_are_bad_input(text: str, says: str) -> None:
    error = refused(f"x: 1\na: {text}\n")
    assert error.line == 2
    assert says in str(error)


@pytest.mark.parametrize(("case", "text"), RAW_CONTROL, ids=[c for c, _ in RAW_CONTROL])
def test_control_characters_are_refused_with_their_line(case: str, text: str) -> None:
    error = refused(f"a: 1\nb: 2\nc: {text}\n")
    assert error.line == 3
    assert "is not allowed in YAML text" in str(error)
    assert "\x00" not in str(error) and "\x1b" not in str(error)


def test_escaped_control_characters_are_data_and_never_printed_raw() -> None:
    value = parse('a: "x\\x1b[2J\\x00"\n')["a"]
    assert value == "x\x1b[2J\x00"
    message = str(ConfigError("bad", file="f.yml", line=1, task=value))
    assert "\x1b" not in message and "\x00" not in message and "\\x1b" in message


# --- aliases, depth ------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [7, 9, 12])
def test_alias_bombs_are_refused(levels: int) -> None:
    error = refused(alias_bomb(levels=levels))
    assert "aliases expand to more than" in str(error)


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n", "a: &a [[[*a]]]\n", "a: &a\n  b:\n    - *a\n"],
)
def test_aliases_that_contain_themselves_are_refused(text: str) -> None:
    assert "contains it" in str(refused(text))


def test_aliases_within_the_bounds_are_expanded() -> None:
    text = "base: &base {region: us-east-1, tags: [a, b]}\n" + "".join(f"a{i}: *base\n" for i in range(500))
    data = parse(text)
    assert data["a499"] == {"region": "us-east-1", "tags": ["a", "b"]}
    assert parse("a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\n")["b"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    "text",
    [
        f"a: {flow_nesting(900)}\n",
        f"a: {flow_nesting(51)}\n",
        block_nesting(900),
        "a: " + "{b: " * 900 + "1" + "}" * 900 + "\n",
        "".join(" " * (2 * i) + "-\n" for i in range(900)),
    ],
)
def test_nesting_is_refused_past_the_bound(text: str) -> None:
    assert "levels deep" in str(refused(text))


def test_nesting_within_the_bound_is_read() -> None:
    assert parse(f"a: {flow_nesting(49)}\n")["a"] is not None


# --- files that are not regular files -------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yml")
    with pytest.raises(ConfigError, match="not a regular file"):
        answer(yamlfile.read_bytes, tmp_path / "pipe.yml", "playbook")


def test_a_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        answer(yamlfile.read_bytes, "/dev/zero", "playbook")


def test_a_file_over_the_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with open(tmp_path / "big.yml", "wb") as handle:
        handle.truncate(yamlfile.MAX_FILE_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than 8 MB"):
        answer(yamlfile.read_bytes, tmp_path / "big.yml", "playbook")


def test_a_file_whose_size_is_not_known_is_read_to_the_bound_only() -> None:
    data = answer(yamlfile.read_bytes, "/proc/self/status", "file")  # stat says 0 bytes
    assert data.startswith(b"Name:")
    with pytest.raises(ConfigError, match="larger than"):
        answer(yamlfile.read_bytes, "/proc/self/status", "file", 10)


def test_text_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        yamlfile.load(tmp_path / "a.yml")
    assert caught.value.line == 2 and "not UTF-8" in str(caught.value)


# --- generated YAML ------------------------------------------------------------------------------

_FRAGMENTS = [text for _, text in YAML_SCALARS] + [
    "&a [x, *a]",
    "*a",
    "&a x",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "? ",
    "'",
    '"',
    "!!",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "\t",
    "\\",
    "#",
    "|\n  x",
    ">-\n  y",
    flow_nesting(60),
    alias_bomb(levels=8),
]


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    """A document of lines made of hostile fragments, keys and indentation."""
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 4]))
        key = draw(st.sampled_from(["a: ", "b: ", "- ", "", "c:\n  - "]))
        parts = draw(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), min_size=1, max_size=3))
        lines.append(indent + key + " ".join(parts))
    return "\n".join(lines) + "\n"


@GENERATED
@given(hostile_yaml())
def test_generated_yaml_is_read_or_refused_with_a_line(text: str) -> None:
    try:
        parse(text)
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1200
        assert exc.file == "f.yml"


@GENERATED
@given(st.binary(max_size=200))
def test_generated_bytes_are_read_or_refused(data: bytes) -> None:
    try:
        answer(yamlfile.parse_bytes, data, "f.yml")
    except ConfigError as exc:
        assert "\n" not in str(exc)


# --- templates: bounded work and size ------------------------------------------------------------


def render(value: Any, variables: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> Any:
    return answer(Renderer([]).render, value, variables or {}, data)


BOMBS = [(case, template) for case, template in TEMPLATE_BOMBS if case != "nested-brackets-output"]


@pytest.mark.parametrize(("case", "template"), BOMBS, ids=[c for c, _ in BOMBS])
def test_template_bombs_are_refused_quickly(case: str, template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{% for i in range(1000) %}{% endfor %}ok", "ok"),
        ("{{ range(3) | map('string') | join(',') }}", "0,1,2"),
        ("{{ '%05d' % 42 }}", "00042"),
        ("{{ '{:>6}'.format('x') }}", "     x"),
        ("{{ 'x' | center(5) }}", "  x  "),
        ("{{ 2 ** 64 }}", 2**64),
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [1] + [2] }}", [1, 2]),
        ("{{ 'a,b'.split(',') }}", ["a", "b"]),
        ("{{ ('x' * 1000).replace('x', 'yy') | length }}", 2000),
        ("{{ 14 }}", 14),
        ("{{ '[1, 2]' }}", [1, 2]),  # Jinja's native rendering, kept
        ("{{ '1, 2' }}", "1, 2"),  # a tuple is not data an option can hold: left as text
    ],
)
def test_templates_within_the_bounds_render(template: str, value: Any) -> None:
    assert render(template) == value


def test_text_that_python_cannot_read_as_a_literal_stays_text() -> None:
    assert render('{{ "[" * 5000 ~ "]" * 5000 }}') == "[" * 5000 + "]" * 5000


def test_the_budget_is_per_rendering() -> None:
    renderer = Renderer([])
    loop = "{% for i in range(30000) %}{% endfor %}ok"
    for _ in range(3):  # each rendering within the budget; together over it
        assert answer(renderer.render, loop, {}) == "ok"


_ATOMS = ["1", "7", "10", "999999999", "10 ** 9", "'x'", "'%9999999d'", "[0]", "range(100000)", "v", "lookup_env('X')"]
_OPERATORS = [" ** ", " * ", " + ", " ~ ", " % ", " // "]
_FILTERS = ["", " | list", " | join('y' * 99)", " | center(999999999)", " | batch(99999999)", " | sum", " | sort"]


@st.composite
def hostile_expression(draw: st.DrawFn) -> str:
    expression = draw(st.sampled_from(_ATOMS))
    for _ in range(draw(st.integers(1, 4))):
        expression = f"({expression}{draw(st.sampled_from(_OPERATORS))}{draw(st.sampled_from(_ATOMS))})"
        expression += draw(st.sampled_from(_FILTERS))
    if draw(st.booleans()):
        expression = f"{{% for i in {draw(st.sampled_from(_ATOMS))} %}}{{{{ {expression} }}}}{{% endfor %}}"
        return expression
    return f"{{{{ {expression} }}}}"


@GENERATED
@given(hostile_expression())
def test_generated_templates_render_or_are_refused_quickly(template: str) -> None:
    try:
        value = render(template, {"v": "{{ 10 ** 4000 }}"})
    except TemplateError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    else:
        assert len(repr(value)) <= 2_000_000


# --- variables and the environment --------------------------------------------------------------


def chain(length: int) -> dict[str, Any]:
    variables: dict[str, Any] = {f"v{i}": f"{{{{ v{i + 1} }}}}" for i in range(length)}
    variables[f"v{length}"] = 14
    return variables


@pytest.mark.parametrize("length", [1, 6, 19])
def test_chains_of_variables_are_followed(length: int) -> None:
    assert render("{{ v0 }}", chain(length)) == 14


def test_a_chain_past_the_bound_is_refused() -> None:
    with pytest.raises(TemplateError, match="more than 20 deep"):
        render("{{ v0 }}", chain(30))


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"a": "{{ a }}"}, "variable 'a' renders to itself"),
        ({"a": "{{ b }}", "b": "{{ a }}"}, "variables refer to each other: a → b → a"),
        ({"a": ["{{ b }}"], "b": {"c": "{{ a }}"}}, "variables refer to each other"),
    ],
)
def test_variables_that_refer_to_themselves_are_refused(variables: dict[str, Any], says: str) -> None:
    with pytest.raises(TemplateError, match=says):
        render("{{ a }}", variables)


def test_templates_inside_lists_and_mappings_of_variables_are_rendered() -> None:
    variables = {"office": "10.0.0.0/8", "cidrs": ["{{ office }}", "192.0.2.0/24"], "n": "{{ 7 * 2 }}"}
    assert render("{{ cidrs }}", variables) == ["10.0.0.0/8", "192.0.2.0/24"]
    assert render("{{ n + 1 }}", variables) == 15


def test_a_rendered_value_is_not_rendered_again() -> None:
    assert render("{{ '{{ 1 + 1 }}' }}") == "{{ 1 + 1 }}"


def test_data_is_not_rendered_again() -> None:
    assert render("{{ item }}", {}, {"item": "{{ 7 * 6 }}"}) == "{{ 7 * 6 }}"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_NAME, SECRET)
    monkeypatch.setenv("REMEDIATOR_HOSTILE_TEMPLATE", f"{{{{ lookup_env('{SECRET_NAME}') }}}}")
    monkeypatch.setenv("REMEDIATOR_HOSTILE_LIST", "[1, 2]")


@pytest.mark.parametrize(
    ("template", "variables"),
    [
        ("{{ lookup_env('REMEDIATOR_HOSTILE_TEMPLATE') }}", {}),
        ("{{ d }}", {"d": "{{ lookup_env('REMEDIATOR_HOSTILE_TEMPLATE') }}"}),
        ("{{ d }}", {"d": "{{ e }}", "e": "{{ lookup_env('REMEDIATOR_HOSTILE_TEMPLATE') }}"}),
        ("x{{ lookup_env('REMEDIATOR_HOSTILE_TEMPLATE') }}", {}),
        ("{{ lookup_env('REMEDIATOR_HOSTILE_TEMPLATE') | trim }}", {}),
        ("{{ [lookup_env('REMEDIATOR_HOSTILE_TEMPLATE')] }}", {}),
    ],
)
def test_an_environment_value_is_never_rendered(environment: None, template: str, variables: dict[str, Any]) -> None:
    value = render(template, variables)
    assert SECRET not in repr(value)
    assert "lookup_env('REMEDIATOR_HOSTILE_SECRET')" in repr(value)


def test_an_environment_value_is_not_a_python_literal(environment: None) -> None:
    value = render("{{ lookup_env('REMEDIATOR_HOSTILE_LIST') }}")
    assert value == "[1, 2]" and isinstance(value, EnvValue)
    assert render("{{ v }}", {"v": "{{ lookup_env('REMEDIATOR_HOSTILE_LIST') | trim }}"}) == "[1, 2]"


def test_an_environment_value_is_read_where_the_option_wants_no_text() -> None:
    schema = module_schema("iam_users")
    args = {"unused_days": EnvValue("90"), "include": EnvValue("[ci-*, deploy]"), "exclude": [EnvValue("x")]}
    assert coerce_environment(args, schema) == {"unused_days": 90, "include": ["ci-*", "deploy"], "exclude": ["x"]}
    assert coerce_environment({"unused_days": EnvValue("{{ x }}")}, schema) == {"unused_days": "{{ x }}"}


def test_an_environment_value_is_never_echoed(environment: None) -> None:
    schema_problems = check_args("iam_users", {"unused_days": EnvValue(SECRET)}, rendered=True)
    assert schema_problems and all(SECRET not in message for _, message in schema_problems)
    renderer = Renderer([])
    answer(renderer.render, f"{{{{ lookup_env('{SECRET_NAME}') }}}}", {})
    assert renderer.redact(f"role_arn '{SECRET}' is bad") == "role_arn '(a value from the environment)' is bad"


# --- template files ----------------------------------------------------------------------------


def test_a_symlink_out_of_the_templates_folder_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "secret.txt", tmp_path / "templates" / "leak.j2")
    os.symlink("/proc/self/environ", tmp_path / "templates" / "environ.j2")
    os.symlink(tmp_path, tmp_path / "templates" / "up")
    for name in ("leak.j2", "environ.j2", "up/secret.txt"):
        with pytest.raises(TemplateError, match="is a link out of") as caught:
            answer(Renderer([tmp_path / "templates"]).template, name, {})
        assert SECRET not in str(caught.value)


def test_template_files_must_be_regular_files_of_bounded_size(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    os.mkfifo(tmp_path / "templates" / "pipe.j2")
    (tmp_path / "templates" / "big.j2").write_text("x" * (300 * 1024))
    renderer = Renderer([tmp_path / "templates"])
    with pytest.raises(TemplateError, match="not a regular file"):
        answer(renderer.template, "pipe.j2", {})
    with pytest.raises(TemplateError, match="larger than 256 KB"):
        answer(renderer.template, "big.j2", {})


def test_a_symlink_within_the_templates_folder_is_followed(tmp_path: Path) -> None:
    folder = tmp_path / "real-templates"
    folder.mkdir()
    (folder / "a.json").write_text('{"a": {{ n }}}')
    os.symlink("a.json", folder / "b.json")
    os.symlink(folder, tmp_path / "templates")  # the folder itself may be a link
    assert answer(Renderer([tmp_path / "templates"]).template, "b.json", {"n": 1}) == {"a": 1}


# --- messages ----------------------------------------------------------------------------------


def test_values_in_messages_are_cut_short() -> None:
    assert short("x" * 100_000).endswith("…") and len(short("x" * 100_000)) <= 80
    assert short(10**5000) == "<an integer of 16610 bits>"
    problems = check_args("iam_password_policy", {"minimum_length": "x" * 100_000}, rendered=True)
    assert problems and all(len(message) < 200 for _, message in problems)
    error = ConfigError("m", file="f" * 5000, line=1, task="t" * 5000, field="o" * 5000)
    assert len(str(error)) < 600


# --- numbers a module computes with ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "option"),
    [
        ("iam_users", "unused_days"),
        ("iam_roles", "unused_days"),
        ("iam_access_keys", "max_age_days"),
        ("iam_access_keys", "delete_after_days"),
        ("iam_root_account", "max_days_since_use"),
        ("iam_unused_permissions", "unused_days"),
    ],
)
def test_day_counts_are_bounded(module: str, option: str) -> None:
    assert check_args(module, {option: 1_000_000_000}, rendered=True) == [
        (option, "1000000000 is out of range: must be between 1 and 36500")
    ]
    assert check_args(module, {option: 36_500}, rendered=True) == []


def test_other_integers_are_bounded() -> None:
    assert check_args("iam_admins", {"min": 2**40}, rendered=True)[0][1].endswith("between 0 and 2147483647")


# --- connection settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:99999", "port out of range"),
        ("http://127.0.0.1:abc", "port could not be cast"),
        ("http://[::1", "invalid ipv6 url"),
        ("http://:80", "no host"),
        ("http://127.0.0.1:0", "port 0"),
        ("http://exämple.com", "printable ASCII"),
    ],
)
def test_endpoint_urls_botocore_would_refuse_are_bad_input(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_connection("acc", {"endpoint_url": url}, "inv.yml", 4)
    assert says.lower() in str(caught.value).lower() and caught.value.line == 4


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "https://iam.example.com/path?x=1", "http://[::1]:8080"])
def test_endpoint_urls_botocore_takes_are_accepted(url: str) -> None:
    assert check_connection("acc", {"endpoint_url": url}, "inv.yml", 4)["endpoint_url"] == url
