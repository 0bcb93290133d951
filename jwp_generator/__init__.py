"""The generator side of the template: answer checks, per-method rendering, post-generation steps.

Nothing here is copied into a generated plugin. The hooks in ``hooks/`` are thin shells that
read cookiecutter's answers as data and call into this package.
"""
