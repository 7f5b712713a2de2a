"""bertedu: the small, tested package behind the bertedu book.

Every chapter of the book imports its reusable code from here, so the code a
reader runs is the code the tests check.
"""

__version__ = "0.1.0"
