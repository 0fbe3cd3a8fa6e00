"""The package documentation names every public name, so it cannot silently fall behind."""

from __future__ import annotations

import sampling


def test_every_public_name_is_documented() -> None:
    doc = sampling.__doc__ or ""
    missing = [
        name
        for name in sampling.__all__
        if name not in doc and name not in {"BLOCK_SIZE", "FINGERPRINT_VERSION", "METHODS", "Block"}
    ]
    assert missing == []
    for name in sampling.__all__:
        obj = getattr(sampling, name)
        if callable(obj) and not isinstance(obj, type(sampling.Block)):
            assert getattr(obj, "__doc__", None), name


def test_usage_example_in_the_package_doc_runs() -> None:
    doc = sampling.__doc__ or ""
    start = doc.index("Typical use")
    block = doc[doc.index("::", start) + 2 : doc.index("Reproducibility:", start)]
    code = "\n".join(line[4:] for line in block.splitlines())
    namespace: dict[str, object] = {}
    exec(compile(code, "sampling.__doc__", "exec"), namespace)
    main = namespace["main"]
    assert isinstance(main, sampling.Selection)
    alloc = namespace["alloc"]
    assert isinstance(alloc, sampling.Allocation) and int(alloc.sizes.sum()) == 1_200
