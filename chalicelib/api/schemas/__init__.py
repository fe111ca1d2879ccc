"""Response models of the API (SPEC §4–§8), used by the OpenAPI document and its tests.

They describe what the routes answer; the routes build their bodies themselves (the domain's
`to_dict()`), and the fuzzing tests check that both agree. Request models live with their routes.
"""
