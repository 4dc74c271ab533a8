"""AWS's input rules (remediator.awsrules): the emulator enforces none of them, so these tests are the
only thing standing between a name AWS refuses and a run that fails halfway in a real account.

The traps are Python's: `\\w` matches any Unicode letter (`ポリシー`), `\\d` any Unicode digit, and `$`
accepts a trailing newline. AWS's patterns are ASCII and match the whole value.
"""

from __future__ import annotations

import pytest

from remediator import awsrules
from remediator.awsrules import check_description, check_name, check_path, check_policy_arn, check_tags

# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(awsrules.NAME_LIMITS))
@pytest.mark.parametrize(
    "name",
    [
        "ポリシー",  # Japanese: letters to Python's \w, not to AWS's
        "rôle",  # Latin-1 letter
        "Ωmega",  # Greek
        "deploy١",  # Arabic-Indic digit: a digit to Python's \d
        "ｄｅｐｌｏｙ",  # fullwidth Latin letters
        "deploy\n",  # trailing newline: `$` would accept it
        "\ndeploy",
        "de ploy",
        "deploy/x",
        "deploy:x",
        "",
    ],
)
def test_names_outside_ascii_or_with_other_characters_are_refused(kind: str, name: str) -> None:
    problem = check_name(kind, name)
    assert problem is not None
    assert "ASCII letters, digits and _+=,.@-" in problem
    assert "\n" not in problem  # one line, whatever the name holds


@pytest.mark.parametrize("kind", sorted(awsrules.NAME_LIMITS))
def test_names_of_every_allowed_character_pass(kind: str) -> None:
    assert check_name(kind, "Deploy_role+=,.@-09") is None


def test_role_name_64_characters_pass_65_are_refused() -> None:
    assert check_name("role", "r" * 64) is None
    problem = check_name("role", "r" * 65)
    assert problem is not None and "65 characters" in problem and "1–64" in problem


def test_user_name_is_64_at_most() -> None:
    assert check_name("user", "u" * 64) is None
    assert check_name("user", "u" * 65) is not None


@pytest.mark.parametrize("kind", ["group", "policy", "inline_policy", "instance_profile"])
def test_group_policy_and_instance_profile_names_are_128_at_most(kind: str) -> None:
    assert check_name(kind, "g" * 128) is None
    problem = check_name(kind, "g" * 129)
    assert problem is not None and "1–128" in problem


def test_name_must_be_a_string() -> None:
    assert check_name("role", 5) is not None
    assert check_name("role", None) is not None


def test_unknown_name_kind_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        check_name("bucket", "x")


# --- paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/team/", "/a/b/c/", "/team:x/", "/a~b!/", "/" + "p" * 510 + "/"])
def test_valid_paths(path: str) -> None:
    assert check_path(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "",
        "team",
        "team/",
        "/team",
        "//",  # AWS: '/' alone, or '/' + at least one character + '/'
        "/te am/",
        "/tëam/",
        "/チーム/",
        "/team/\n",
        "/" + "p" * 511 + "/",  # 513 characters
    ],
)
def test_invalid_paths(path: str) -> None:
    problem = check_path(path)
    assert problem is not None and "starts and ends with '/'" in problem


def test_policy_paths_follow_create_policy_s_stricter_rule() -> None:
    assert check_path("/team/", policy=True) is None
    assert check_path("/a/b.c/", policy=True) is None
    assert check_path("/", policy=True) is None
    for bad in ("/team:x/", "/a*/", "//", "/a//b/", "/team/\n", "/équipe/"):
        assert check_path(bad, policy=True) is not None, bad


# --- descriptions --------------------------------------------------------------------------------------


def test_role_description_allows_printable_ascii_latin1_and_tab_newline_cr() -> None:
    assert check_description("") is None
    assert check_description("Rôle de déploiement, ½ price\tline\nnext\r") is None
    assert check_description("d" * 1000) is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\xa0", "\u2014", "ポ"])
def test_role_description_with_a_disallowed_character_is_refused(char: str) -> None:
    problem = check_description(f"deploy{char}role")
    assert problem is not None and f"U+{ord(char):04X}" in problem


def test_description_over_1000_characters_is_refused() -> None:
    problem = check_description("d" * 1001)
    assert problem is not None and "1001 characters" in problem
    assert check_description("d" * 1001, kind="policy") is not None


def test_policy_description_has_only_a_length_rule() -> None:
    assert check_description("ポリシー\x07", kind="policy") is None


# --- tags ----------------------------------------------------------------------------------------------


def test_fifty_tags_pass_fifty_one_are_refused() -> None:
    assert check_tags({f"k{i}": "v" for i in range(50)}) is None
    problem = check_tags({f"k{i}": "v" for i in range(51)})
    assert problem is not None and "51 tags" in problem and "at most 50" in problem


@pytest.mark.parametrize("key", ["aws:team", "AWS:team", "Aws:cost"])
def test_aws_prefixed_key_is_refused_in_any_case(key: str) -> None:
    problem = check_tags({key: "x"})
    assert problem is not None and "aws:" in problem


def test_key_of_128_passes_129_is_refused() -> None:
    assert check_tags({"k" * 128: "v"}) is None
    problem = check_tags({"k" * 129: "v"})
    assert problem is not None and "129 characters" in problem


def test_value_of_256_passes_257_is_refused() -> None:
    assert check_tags({"k": "v" * 256}) is None
    problem = check_tags({"k": "v" * 257})
    assert problem is not None and "257 characters" in problem


def test_empty_key_is_refused_empty_value_passes() -> None:
    assert check_tags({"": "v"}) is not None
    assert check_tags({"k": ""}) is None


def test_tags_allow_unicode_letters_numbers_spaces_and_the_symbols() -> None:
    assert check_tags({"チーム": "プラットフォーム", "Cost Center": "41 200", "a_.:/=+-@": "ü٣\u2003"}) is None


@pytest.mark.parametrize("text", ["tab\there", "new\nline", "star*", "hash#", "comma,", "emoji🙂", "quote'"])
def test_tag_characters_outside_the_rule_are_refused(text: str) -> None:
    assert check_tags({text: "v"}) is not None
    assert check_tags({"k": text}) is not None


# --- policy ARNs and the role-last-use window ----------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM",
        "arn:aws:iam::123456789012:policy/team/deploy",
        "arn:aws-us-gov:iam::123456789012:policy/x",
    ],
)
def test_policy_arns(arn: str) -> None:
    assert check_policy_arn(arn) is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:policy/x\n",
        "arn:aws:iam::１２３４５６７８９０１２:policy/x",
        "arn:aws:iam::123456789012:role/x",
        "arn:aws:iam::12345:policy/x",
        "arn:aws:iam::123456789012:policy/ポリシー",
        "arn:",
    ],
)
def test_not_policy_arns(arn: str) -> None:
    assert check_policy_arn(arn) is not None


def test_role_last_use_is_known_for_400_days() -> None:
    assert awsrules.ROLE_LAST_USED_DAYS == 400
