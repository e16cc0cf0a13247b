"""Invoke tasks, one module per area; ``tasks.py`` gathers them. Tasks parse flags, call
``dr/`` and turn its errors into ``Exit`` with a message; they hold no logic of their own."""
