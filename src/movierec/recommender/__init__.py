"""The recommendation model: pure numpy/pandas/Surprise code, no SQL, Redis or Flask.

Keep this package's import light: the settings module imports from it.
"""
