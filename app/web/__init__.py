"""HTTP and SSE: Starlette routes over the engine. Knows no Reflex components."""
