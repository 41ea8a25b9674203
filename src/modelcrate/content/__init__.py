"""Content-addressed storage: the Target abstraction and its stores."""
