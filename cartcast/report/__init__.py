"""`cartcast report`: self-contained HTML pages per model, from the registry and the warehouse."""
