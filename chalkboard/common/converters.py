class IdConverter:
    """A database id in a URL: a positive integer that fits a 64-bit column (larger ones are a 404, not a 500)."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
