"""Reading an LLM reply as one JSON object: fences, bad JSON, wrong shapes, deep nesting."""

from __future__ import annotations

import pytest

from penguiflow.planner.json_reply import MAX_REPLY_DEPTH, ReplyError, load_json_object


def nested(depth: int) -> str:
    """A JSON object whose value nests lists so the whole is ``depth`` levels deep."""
    inner = depth - 1
    return '{"a": ' + "[" * inner + "]" * inner + "}"


def test_a_bare_or_fenced_object_is_read() -> None:
    assert load_json_object(' {"a": 1} ') == {"a": 1}
    assert load_json_object('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    assert load_json_object('```\n{"a": null}\n```') == {"a": None}


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("{not json", "the reply is not valid JSON (Expecting property name"),
        ("", "the reply is not valid JSON (Expecting value at line 1 column 1)"),
        ("[1, 2]", "the reply must be one JSON object, not a list"),
        ('"text"', "the reply must be one JSON object, not a str"),
    ],
)
def test_malformed_replies_say_what_is_wrong(reply: str, problem: str) -> None:
    with pytest.raises(ReplyError) as info:
        load_json_object(reply)
    assert str(info.value).startswith(problem)


@pytest.mark.parametrize(
    "reply",
    [
        "[" * 1000 + "]" * 1000,  # json.loads itself raises RecursionError
        "{" + '"a": {' * 5000 + "}" * 5001,
        nested(MAX_REPLY_DEPTH + 1),  # loads fine, but pydantic or json.dumps would choke later
    ],
    ids=["lists-1000", "objects-5000", "one-past-the-limit"],
)
def test_replies_nested_too_deeply_are_malformed_not_a_crash(reply: str) -> None:
    with pytest.raises(ReplyError, match=f"more than {MAX_REPLY_DEPTH} levels deep"):
        load_json_object(reply)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert list(load_json_object(nested(MAX_REPLY_DEPTH))) == ["a"]
