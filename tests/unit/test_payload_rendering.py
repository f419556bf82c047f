"""Arguments and results become bounded, displayable text; masked stays masked."""

from __future__ import annotations

from celery.utils.saferepr import saferepr

from celery_ops.recording.payload import Arguments, render_arguments, render_value
from celery_ops.store.columns import truncate


def test_short_text_is_unchanged() -> None:
    assert truncate("héllo", 100) == "héllo"


def test_long_text_is_cut_on_a_character_boundary_with_a_marker() -> None:
    cut = truncate("é" * 100, 51)
    assert cut.startswith("é" * 25)
    assert "[celery-ops: truncated, 200 bytes in all, first 50 kept]" in cut


def test_celerys_default_repr_shows_json() -> None:
    args, kwargs = (1, "a"), {"k": [1, 2]}
    rendered = render_arguments(
        Arguments(args, kwargs, saferepr(args, 1024), saferepr(kwargs, 1024)), 1000, True
    )
    assert rendered == {
        "args": '[1, "a"]',
        "kwargs": '{"k": [1, 2]}',
        "message_args": '[1, "a"]',
        "message_kwargs": '{"k": [1, 2]}',
    }


def test_a_masked_argsrepr_is_what_is_shown_and_the_message_is_kept_apart() -> None:
    rendered = render_arguments(Arguments(("secret",), {}, "('***',)", None), 1000, True)
    assert rendered["args"] == "('***',)"
    assert rendered["message_args"] == '["secret"]'


def test_message_arguments_can_be_left_out() -> None:
    assert "message_args" not in render_arguments(Arguments((1,), {}), 1000, keep_message=False)


def test_results_that_are_not_json_are_stored_as_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing 1>"

    assert render_value(Thing(), 100) == "<Thing 1>"
    assert render_value({"a": 1}, 100) == '{"a": 1}'


def test_binary_payloads_are_kept_as_celerys_tagged_base64() -> None:
    assert render_value(b"\x00\xff" * 3, 1000) == '{"__type__": "base64", "__value__": "AP8A/wD/"}'


def test_a_broken_repr_does_not_lose_the_record() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert render_value(Broken(), 100).startswith("<unrepresentable Broken")


def test_no_arguments_and_a_none_result_render_as_celerys_serializer_would() -> None:
    from kombu.utils.json import dumps

    from celery_ops.recording.payload import to_json

    for value in (None, [], {}, (), [0], {"": 0}, 0, False, ""):
        assert to_json(value) == dumps(value, ensure_ascii=False)
    assert render_value(None, 100) == "null"
    nothing = {"args": "[]", "kwargs": "{}", "message_args": "[]", "message_kwargs": "{}"}
    for empty in (Arguments((), {}, "()", "{}"), Arguments([], None), Arguments(None, {}, "[]")):
        assert render_arguments(empty, 1000, True) == nothing
    assert render_arguments(Arguments((), {}), 1000, False) == {"args": "[]", "kwargs": "{}"}


def test_an_empty_call_is_still_masked_and_cut_as_asked() -> None:
    masked = render_arguments(Arguments((), {}, "<hidden>", "{}"), 1000, True)
    assert (masked["args"], masked["message_args"]) == ("<hidden>", "[]")
    tiny = render_arguments(Arguments((), {}, "()", "{}"), 1, True)
    assert "truncated" in tiny["args"] and "message_args" not in tiny
