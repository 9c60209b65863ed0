"""`@record`: behaves as the dataclass it stands for."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from smartollama.record import field, record


@record
class Item:
    name: str
    size: int = 0
    tags: list[str] = field(default_factory=list)
    note: str | None = field(default=None, repr=False, compare=False)


@record(frozen=True)
class Point:
    x: float
    y: float = 0.0


@record(kw_only=False)
class Pair:
    left: str
    right: str = ""


def test_init_defaults_and_factories() -> None:
    a, b = Item(name="a"), Item(name="b", size=2, tags=["x"])
    assert (a.name, a.size, a.tags, a.note) == ("a", 0, [], None)
    assert (b.size, b.tags) == (2, ["x"])
    a.tags.append("y")
    assert Item(name="c").tags == []        # a fresh list each time


def test_init_rejects_what_a_dataclass_rejects() -> None:
    with pytest.raises(TypeError, match="missing argument 'name'"):
        Item()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Item(name="a", colour=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        Item("a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Pair("a", left="b")  # type: ignore[misc]
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Bad:
            tags: list[str] = []  # noqa: RUF012


def test_positional_when_asked() -> None:
    assert Pair("a", "b") == Pair(left="a", right="b")
    assert Pair("a").right == ""


def test_repr_eq_hash() -> None:
    assert repr(Item(name="a", note="hidden")) == "Item(name='a', size=0, tags=[])"
    assert Item(name="a", note="x") == Item(name="a", note="y")     # note: compare=False
    assert Item(name="a") != Item(name="b")
    assert Item(name="a") != Pair("a")  # type: ignore[comparison-overlap]
    with pytest.raises(TypeError):
        hash(Item(name="a"))
    assert hash(Point(x=1.0)) == hash(Point(x=1.0))
    assert {Point(x=1.0), Point(x=1.0, y=0.0)} == {Point(x=1.0)}


def test_frozen() -> None:
    p = Point(x=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.y
    item = Item(name="a")
    item.size = 3
    assert item.size == 3


def test_the_dataclass_helpers_work() -> None:
    item = Item(name="a", tags=["x"])
    assert dataclasses.is_dataclass(item)
    assert [f.name for f in dataclasses.fields(item)] == ["name", "size", "tags", "note"]
    assert dataclasses.asdict(item) == {"name": "a", "size": 0, "tags": ["x"], "note": None}
    assert dataclasses.replace(Point(x=1.0), y=5.0) == Point(x=1.0, y=5.0)
    assert copy.deepcopy(item) == item and copy.deepcopy(item).tags is not item.tags
    assert pickle.loads(pickle.dumps(Point(x=2.0))) == Point(x=2.0)


def test_pydantic_validates_records() -> None:
    from pydantic import TypeAdapter, ValidationError

    got = TypeAdapter(Item).validate_python({"name": "a", "size": "3", "tags": ["t"]})
    assert got == Item(name="a", size=3, tags=["t"])
    with pytest.raises(ValidationError):
        TypeAdapter(Item).validate_python({"size": 1})


# -- fields collected without the dataclasses module -------------------------------------------


@record(frozen=True, kw_only=False)
class Base:
    a: int
    b: str = "b"


@record(frozen=True, kw_only=False)
class Child(Base):
    b: str = "child"    # redefined: keeps its place, takes the new default
    c: float = 1.0


@record
class Options:
    count: ClassVar[int] = 0        # not a field
    seen: list[str] = field(default_factory=list, init=False)
    label: str = field(default="x", hash=False)
    marker: int = field(default_factory=lambda: 7)


def test_inheritance_base_fields_first() -> None:
    from smartollama.record import fields_of

    assert [f.name for f in fields_of(Child)] == ["a", "b", "c"]
    assert Child(1) == Child(a=1, b="child", c=1.0)
    assert Child(1, "x", 2.0).b == "x"
    assert Base(1).b == "b"
    assert repr(Child(1)) == "Child(a=1, b='child', c=1.0)"
    assert Child(1) != Base(1, "child")         # another class: not equal
    assert Child.__match_args__ == ("a", "b", "c")
    match Child(5):
        case Child(a, b):
            assert (a, b) == (5, "child")


def test_defaults_are_class_attributes_and_classvars_are_not_fields() -> None:
    from smartollama.record import fields_of

    assert [f.name for f in fields_of(Options)] == ["seen", "label", "marker"]
    assert Options.label == "x" and Options.count == 0
    assert "marker" not in Options.__dict__       # a factory leaves no class attribute
    o = Options()
    assert (o.seen, o.label, o.marker) == ([], "x", 7)      # init=False: made by its factory
    with pytest.raises(TypeError, match="unexpected keyword argument 'seen'"):
        Options(seen=["a"])  # type: ignore[call-arg]
    assert Options.__doc__ == "Options(seen, label, marker)"


def test_class_errors_as_a_dataclass_has_them() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @record(kw_only=False)
        class Order:
            a: int = 0
            b: int  # type: ignore[misc]

    @record     # keyword-only: any order
    class Keywords:
        a: int = 0
        b: int

    assert Keywords(b=1).a == 0
    with pytest.raises(TypeError, match="no type annotation"):
        @record
        class NoAnnotation:
            a = field(default=1)
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Mutable:
            d: dict[str, int] = field(default={})  # noqa: RUF009


def test_hash_follows_compare_and_hash_flags() -> None:
    @record(frozen=True)
    class H:
        key: str
        note: str = field(default="", compare=False)
        weight: int = field(default=0, hash=False)

    assert H(key="a", note="x") == H(key="a", note="y")
    assert hash(H(key="a", weight=1)) == hash(H(key="a", weight=2))
    assert H(key="a", weight=1) != H(key="a", weight=2)


def test_frozen_error_is_ours_and_the_dataclasses_one() -> None:
    from smartollama.record import FrozenInstanceError

    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'a'"):
        Base(1).a = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del Base(1).a
    with pytest.raises(dataclasses.FrozenInstanceError):
        Base(1).a = 2  # type: ignore[misc]


def test_the_cheap_helpers() -> None:
    from smartollama.record import fields_of, is_record, replace

    assert is_record(Base) and is_record(Base(1)) and not is_record(1) and not is_record(dict)
    assert replace(Child(1), c=3.0) == Child(1, "child", 3.0)
    assert replace(Item(name="a", tags=["t"])).tags == ["t"]
    with pytest.raises(ValueError, match="init=False"):
        replace(Options(), seen=[])
    with pytest.raises(TypeError, match="not a record"):
        fields_of(object())
    f = fields_of(Item)[3]
    assert (f.name, f.default, f.repr, f.compare, f.kw_only) == ("note", None, False, False, True)


def test_dataclass_views_are_real_and_built_when_asked() -> None:
    @record(frozen=True, kw_only=False)
    class Fresh(Base):
        d: list[int] = field(default_factory=list)

    assert "__dataclass_fields__" in Fresh.__dict__     # present, but not yet built
    assert not isinstance(Fresh.__dict__["__dataclass_fields__"], dict)
    fs = dataclasses.fields(Fresh)
    assert all(isinstance(f, dataclasses.Field) for f in fs)
    assert [(f.name, f.default, f.default_factory, f.kw_only) for f in fs] == [
        ("a", dataclasses.MISSING, dataclasses.MISSING, False), ("b", "b", dataclasses.MISSING, False),
        ("d", dataclasses.MISSING, list, False)]
    assert isinstance(Fresh.__dict__["__dataclass_fields__"], dict)     # built once, kept
    assert getattr(Fresh, "__dataclass_params__").frozen  # noqa: B009
    assert not getattr(Base(1), "__dataclass_params__").order  # noqa: B009
    assert dataclasses.asdict(Fresh(1, d=[2])) == {"a": 1, "b": "b", "d": [2]}
    assert dataclasses.replace(Fresh(1), b="z") == Fresh(1, "z")
    assert dataclasses.is_dataclass(Fresh(1))
    assert dataclasses.is_dataclass(Fresh)


def test_pydantic_round_trips_records_whose_fields_were_never_built() -> None:
    from pydantic import TypeAdapter

    @record
    class Inner:
        x: int
        y: list[str] = field(default_factory=list)

    @record(frozen=True, kw_only=False)
    class Outer(Base):
        inner: Inner = field(default_factory=lambda: Inner(x=0))
        extra: dict[str, Inner] = field(default_factory=dict)

    value = Outer(1, "q", Inner(x=2, y=["a"]), {"k": Inner(x=3)})
    adapter = TypeAdapter(Outer)
    assert adapter.validate_json(adapter.dump_json(value)) == value
    assert adapter.validate_python({"a": "4"}) == Outer(4)


def test_records_import_no_dataclasses() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom smartollama.record import field, record, replace, fields_of, is_record\n"
            "@record(frozen=True, kw_only=False)\nclass P:\n    x: int\n    y: tuple = field(default_factory=tuple)\n"
            "p = replace(P(1), x=2)\nassert p == P(2) and hash(p) and is_record(p) and len(fields_of(p)) == 2\n"
            "try:\n    p.x = 3\nexcept AttributeError:\n    pass\n"
            "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
