"""What every layer shares and nothing of the project's own: the error classes, the
names of states and roles, and the base of typed settings models.

It sits at the bottom of the dependency graph: `hashers`, `matchers`,
`banks`, `actioners` and `hma` may import it; it imports only the standard
library and pydantic.
"""
