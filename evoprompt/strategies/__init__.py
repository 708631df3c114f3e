"""Evolution strategies, one module each, found by name through the registry.

Importing the package registers the built-in strategies; a new one is a module holding one
``@register_strategy`` class.
"""

from importlib import import_module

# GA first: `algorithm`'s choices, and the messages naming them, follow registration order.
for _module in ("ga", "de"):
    import_module(f"{__name__}.{_module}")
