"""`Module`: the base of every layer and network, and `Sequential`.

A module registers the parameters (leaf Tensors that require grad) and sub-modules
assigned to it as attributes, as in PyTorch. Attaching a module gives everything under it
a dotted path (`layers.0.weight`), which becomes each parameter's `name`, so drawings and
gradient reports show it. Calling a module runs `forward` inside `autograd_mini.scope`
with that path as label (`layers.0: Linear(784→30)`), so drawings group its ops.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor


class StateDictError(KeyError):
    """A state whose parameter names do not match the module's."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class: subclasses set parameters and sub-modules in `__init__` and define `forward`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_path", "")
        object.__setattr__(self, "_scope", None)  # the ag.scope its calls record in
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------------------------
    # Registration
    # ------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, "
                f"before setting {name!r}."
            )
        if isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value  # a replaced entry keeps its place in the order
            value._rename(_join(self._path, name))
            object.__setattr__(self, "_scope", None)  # its description may change
        elif isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            self._modules.pop(name, None)
            self._parameters[name] = value
            value.name = _join(self._path, name)
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def _rename(self, path: str) -> None:
        """Give this module (and everything under it) its dotted path in the tree."""
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_scope", None)
        for name, parameter in self._parameters.items():
            parameter.name = _join(path, name)
        for name, module in self._modules.items():
            module._rename(_join(path, name))

    # ------------------------------------------------------------------------------------
    # Calling
    # ------------------------------------------------------------------------------------

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any) -> Any:
        with self._scope or self.scope:
            return self.forward(*args)

    @property
    def scope(self) -> ag.scope:
        """The `ag.scope` this module's calls record their ops in, labelled with its path
        and description, e.g. `layers.0: Linear(784→30)`."""
        if self._scope is None:
            label = self.describe() if not self._path else f"{self._path}: {self.describe()}"
            object.__setattr__(self, "_scope", ag.scope(label))
        return self._scope

    def describe(self) -> str:
        """A one-line description, e.g. `Linear(784→30)`; used in scope labels and repr."""
        return f"{type(self).__name__}()"

    # ------------------------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and everything under it, depth first."""
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(_join(prefix, name))

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs, e.g. `("layers.0.weight", W)`, each once."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield _join(prefix, name), parameter

    def parameters(self) -> list[Tensor]:
        """Every parameter, in registration order (what an optimizer takes)."""
        return [parameter for _, parameter in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None, as PyTorch does)."""
        for parameter in self.parameters():
            parameter.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set the training flag on this module and everything under it."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Same as `train(False)`."""
        return self.train(False)

    @property
    def draws_random(self) -> bool:
        """Whether a forward pass draws random numbers now (Dropout in training mode), here
        or below: a compiled step would reuse one draw, so `fit` runs such a model eagerly."""
        return any(module._draws for _, module in self.named_modules())

    _draws = False  # a module that draws random numbers in its forward pass says so

    # ------------------------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's array, by dotted name."""
        return {name: parameter.data.copy() for name, parameter in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy arrays into the parameters of the same name, after checking all of them.

        Raises `StateDictError` (a KeyError) for missing or unknown names and `ShapeError`
        for a shape that differs; nothing is changed unless everything fits. Values are cast to each
        parameter's dtype.
        """
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unknown = sorted(set(state) - set(own))
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unknown:
                parts.append(f"unknown {unknown}")
            raise StateDictError(
                f"load_state_dict: the state does not fit {self.describe()}: "
                f"{'; '.join(parts)}. Expected exactly {sorted(own)}."
            )
        arrays = {}
        for name, parameter in own.items():
            value = state[name]
            if type(value).__module__.split(".")[0] == "torch":
                raise StateDictError(
                    f"load_state_dict: {name} is a torch.{type(value).__name__}; convert each "
                    "value with .detach().numpy(), and transpose the weights: torch's "
                    "Linear.weight is (out_features, in_features), here (in, out)."
                )
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != parameter.shape:
                turned = array.ndim == 2 and array.shape == parameter.shape[::-1]
                raise ag.ShapeError(
                    f"load_state_dict: {name} has shape {array.shape} in the state but "
                    f"{parameter.shape} in {self.describe()}."
                    + " Transposed? torch's Linear.weight is (out, in), here (in, out): give .T."
                    * turned
                )
            arrays[name] = array
        for name, parameter in own.items():
            parameter.data[...] = arrays[name]

    # ------------------------------------------------------------------------------------
    # Printing
    # ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        if not self._modules:
            return self.describe()
        lines = [f"{type(self).__name__}("]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied one after the other; they are named "0", "1", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential takes Modules, got {type(module).__name__}; wrap a function "
                "in a Module subclass."
            )
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def describe(self) -> str:
        return f"Sequential({len(self)})"
