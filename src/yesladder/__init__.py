"""yesladder: build, serve, measure and improve micro-commitment funnels."""

__version__ = "0.1.0"
