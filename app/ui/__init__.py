"""Reflex states, pages and components. Reads history from the engine; never streams tokens
through state (the answer text reaches the page through ``ResilientStream``)."""
