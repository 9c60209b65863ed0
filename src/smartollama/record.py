"""`@record`: a dataclass-like class, made without the `dataclasses` module.

`dataclasses.dataclass` writes each class's `__init__`, `__repr__` and `__eq__`
(frozen: also `__setattr__`, `__delattr__`, `__hash__`) as source text and
compiles it while the class is created: 0.4-0.7 ms a class, ~10 ms for the
config and verdict classes that every `sollama route` imports, more than the
whole warm decision takes (measured with `python -X importtime`, where
`python -c pass` took ~12 ms). A record's methods are generic ones, shared by
every record, that read its fields: ~1 µs more for each instance.

Nor does a record import `dataclasses` to collect its fields: that module
imports `inspect` (and with it ast, dis, tokenize, linecache...), 9-12 ms on a
warm `sollama route` or `sollama run` (minimum of fifteen `python -X
importtime` runs, on a 2-core machine where all their imports summed 77-82
ms; 57-59 ms once records no longer used `dataclasses`). `@record` reads the
class's annotations itself (base records' fields first, then the class's own,
in order; a default is the class attribute, or this module's
`field(default=..., default_factory=...)`).

What reads dataclasses still works (`dataclasses.fields`, `replace`, `asdict`,
`is_dataclass`, pydantic's TypeAdapter): a record's `__dataclass_fields__`
and `__dataclass_params__` are built, as real `dataclasses` objects, the first
time something asks for them (and only then is `dataclasses` imported). The
package's own code uses the cheap `fields_of`, `replace` and `is_record`
instead, which never import it. Type checkers see the usual dataclass through
`dataclass_transform`.

Records are built with keywords only, unless made with ``kw_only=False``.
``@record(frozen=True)`` makes their attributes read-only (and the record
hashable). Unlike ``dataclass(slots=True)``, a record has a ``__dict__``.
Not supported: ``InitVar``, ``KW_ONLY``, ``__post_init__``, ordering, and a
record inheriting from a stdlib dataclass.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if not TYPE_CHECKING:   # the decorators only type checkers read, as no-ops
    def overload(f: object) -> object:
        return f

    def dataclass_transform(**_: object) -> object:
        return overload
else:
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")

__all__ = ["MISSING", "Field", "FrozenInstanceError", "field", "fields_of", "is_record",
           "record", "replace"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: no default (stands for `dataclasses.MISSING`, which the dataclass views get)
MISSING: Any = _Missing()
_UNSET: Any = object()


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a frozen record's field. Once `dataclasses` is
    imported, what is raised is also a `dataclasses.FrozenInstanceError`."""


_both_frozen_errors: type[FrozenInstanceError] | None = None


def _frozen_error(message: str) -> FrozenInstanceError:
    # whoever catches dataclasses.FrozenInstanceError has imported dataclasses
    global _both_frozen_errors
    dc = sys.modules.get("dataclasses")
    if dc is None:
        return FrozenInstanceError(message)
    if _both_frozen_errors is None:
        _both_frozen_errors = type("FrozenInstanceError",
                                   (FrozenInstanceError, dc.FrozenInstanceError),
                                   {"__module__": __name__})
    return _both_frozen_errors(message)


class Field:
    """A record's field (as `dataclasses.Field`), and the marker `field()` returns."""

    __slots__ = ("compare", "default", "default_factory", "hash", "init", "kw_only",
                 "metadata", "name", "repr", "type")

    def __init__(self, default: Any, default_factory: Any, init: bool, repr: bool,
                 hash: bool | None, compare: bool, metadata: Any, kw_only: Any) -> None:
        self.name: str = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.metadata = metadata
        self.kw_only = kw_only

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, "
                f"default_factory={self.default_factory!r}, init={self.init}, "
                f"kw_only={self.kw_only})")


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True,
          metadata: Any = None, kw_only: Any = MISSING) -> Any:
    """A field with a default, a default factory or other options (as `dataclasses.field`)."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, hash, compare, metadata, kw_only)


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.lstrip().startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))
    import typing
    return annotation is typing.ClassVar or getattr(annotation, "__origin__", None) is \
        typing.ClassVar


# -- the generic methods ---------------------------------------------------------------------


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    if args:
        names = self.__record_positional__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} positional "
                            f"arguments but {len(args)} were given")
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            kwargs[name] = value
    for name, default, factory in self.__record_init__:
        value = kwargs.pop(name, _UNSET)
        if value is _UNSET:
            if default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                        f"{next(iter(kwargs))!r}")
    for name, factory in self.__record_later__:    # init=False fields with a factory
        object.__setattr__(self, name, factory())


def _repr(self: Any) -> str:
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__record_repr__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in self.__record_compare__)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in self.__record_hash__))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise _frozen_error(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise _frozen_error(f"cannot delete field {name!r}")


# -- what `dataclasses` reads, built when first asked for ----------------------------------


def _dataclass_fields(cls: Any) -> dict[str, Any]:
    import dataclasses as dc

    out = {}
    for f in cls.__record_fields__:
        real: Any = dc.field(
            default=dc.MISSING if f.default is MISSING else f.default,
            default_factory=dc.MISSING if f.default_factory is MISSING else f.default_factory,
            init=f.init, repr=f.repr, hash=f.hash, compare=f.compare, metadata=f.metadata,
            kw_only=f.kw_only)
        real.name, real.type = f.name, f.type
        real._field_type = dc._FIELD  # type: ignore[attr-defined]  # as dataclass() sets it
        out[f.name] = real
    return out


def _dataclass_params(cls: Any) -> Any:
    import dataclasses as dc

    values = {"init": True, "repr": True, "eq": True, "order": False, "unsafe_hash": False,
              "frozen": cls.__record_frozen__, "match_args": True,
              "kw_only": cls.__record_kw_only__, "slots": False, "weakref_slot": False}
    params: Any = dc._DataclassParams  # type: ignore[attr-defined]
    return params(*(values[name] for name in params.__slots__))


class _Lazy:
    """A class attribute computed (and then stored on the class) when first read.
    Also a read-only mapping over its value, for whoever reads it raw from the
    class's ``__dict__`` (pydantic reads ``__dataclass_fields__`` so)."""

    __slots__ = ("attr", "build", "owner")

    def __init__(self, owner: type, attr: str, build: Callable[[Any], Any]) -> None:
        self.owner, self.attr, self.build = owner, attr, build

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        cls = owner if owner is not None else type(obj)
        value = self.build(cls)
        type.__setattr__(cls, self.attr, value)
        return value

    def _value(self) -> Any:
        return self.__get__(None, self.owner)

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __contains__(self, key: object) -> bool:
        return key in self._value()

    def get(self, key: str, default: Any = None) -> Any:
        return self._value().get(key, default)

    def keys(self) -> Any:
        return self._value().keys()

    def values(self) -> Any:
        return self._value().values()

    def items(self) -> Any:
        return self._value().items()


# -- making a record ---------------------------------------------------------------------------


def _make(cls: type[T], frozen: bool, kw_only: bool) -> type[T]:
    c: Any = cls
    own = cls.__dict__
    fs: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        inherited = base.__dict__.get("__record_fields__")
        if inherited is not None:
            for f in inherited:
                fs[f.name] = f
        elif "__dataclass_fields__" in base.__dict__:
            raise TypeError(f"record {cls.__name__}: cannot inherit from the dataclass "
                            f"{base.__name__}")
    annotations = own.get("__annotations__", {})
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        default = own.get(name, MISSING)
        if isinstance(default, Field):
            f = default
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        else:
            f = Field(default, MISSING, True, True, None, True, None, MISSING)
        if f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not "
                             "allowed: use default_factory")
        f.name, f.type = name, annotation
        if f.kw_only is MISSING:
            f.kw_only = kw_only
        fs[name] = f
    for name, value in own.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    all_fields = tuple(fs.values())
    positional = tuple(f for f in all_fields if f.init and not f.kw_only)
    after_default = False
    for f in positional:
        if f.default is MISSING and f.default_factory is MISSING:
            if after_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            after_default = True

    if not c.__doc__:
        c.__doc__ = f"{c.__name__}({', '.join(f.name for f in all_fields)})"
    c.__record_fields__ = all_fields
    c.__record_frozen__ = frozen
    c.__record_kw_only__ = kw_only
    c.__record_init__ = tuple((f.name, f.default, f.default_factory)
                              for f in all_fields if f.init)
    c.__record_later__ = tuple((f.name, f.default_factory) for f in all_fields
                               if not f.init and f.default_factory is not MISSING)
    c.__record_positional__ = tuple(f.name for f in positional)
    c.__record_repr__ = tuple(f.name for f in all_fields if f.repr)
    c.__record_compare__ = tuple(f.name for f in all_fields if f.compare)
    c.__record_hash__ = tuple(f.name for f in all_fields
                              if (f.compare if f.hash is None else f.hash))
    c.__dataclass_fields__ = _Lazy(cls, "__dataclass_fields__", _dataclass_fields)
    c.__dataclass_params__ = _Lazy(cls, "__dataclass_params__", _dataclass_params)
    if "__match_args__" not in own:
        setattr(c, "__match_args__", c.__record_positional__)  # noqa: B010 (mypy: read-only)
    c.__init__ = _init
    c.__repr__ = _repr
    c.__eq__ = _eq
    if frozen:
        c.__setattr__ = _frozen_setattr
        c.__delattr__ = _frozen_delattr
        c.__hash__ = _hash
    else:
        c.__hash__ = None
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False, kw_only: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False, kw_only: bool = True
           ) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a record: ``@record``, ``@record(frozen=True)``;
    ``kw_only=False`` also takes the fields positionally, in their order."""
    if cls is None:
        return lambda c: _make(c, frozen, kw_only)
    return _make(cls, frozen, kw_only)


# -- the cheap helpers (no `dataclasses` import) ---------------------------------------------


def is_record(obj: Any) -> bool:
    """Whether ``obj`` is a record or a record class (as `dataclasses.is_dataclass`)."""
    return hasattr(obj, "__record_fields__")


def fields_of(obj: Any) -> tuple[Field, ...]:
    """A record's (or record class's) fields, in order (as `dataclasses.fields`)."""
    try:
        return obj.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError(f"{obj!r} is not a record") from None


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes`` (as `dataclasses.replace`)."""
    for f in fields_of(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be "
                                 "specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)
