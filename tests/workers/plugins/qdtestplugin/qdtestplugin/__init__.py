"""Operations used by the worker tests."""
