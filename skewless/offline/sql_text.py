"""Text helpers shared by the SQL builders."""


def q(identifier: str) -> str:
    """Quote an identifier (names are validated identifiers; quoting keeps keywords safe)."""
    return '"' + identifier.replace('"', '""') + '"'
