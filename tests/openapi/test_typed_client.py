"""The public OpenAPI document is enough to build a typed client on, and lints clean.

- openapi-typescript generates the client types from the document, and ``client-check.ts``
  (reads a product, narrows an order's status, handles the checkout's 409s) passes
  ``tsc --strict``; the same program fails once an order's status is any string, so the
  check has teeth;
- Spectral's ``spectral:oas`` ruleset finds nothing at all (``.spectral.yaml``);
- the errors a storefront must handle are declared with the problem ``type``s they carry,
  and every operation keeps the ``operationId`` clients are generated with.

Whether the live platform answers what the document declares is schemathesis' part
(``tests/e2e/test_schemathesis.py``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type, problem_types

HERE = Path(__file__).parent
TOOL_TIMEOUT = 180
TSC_FLAGS = (
    "--strict",
    "--noEmit",
    "--target", "es2022",
    "--module", "es2022",
    "--moduleResolution", "bundler",
    "--lib", "es2022,dom",
)  # fmt: skip

#: The operationIds clients are generated with: renaming one breaks every client using it.
STABLE_OPERATION_IDS = frozenset({
    "register", "signIn", "refreshTokens", "signOut", "getJwks",
    "getMe", "updateMe", "deleteMe",
    "listAddresses", "addAddress", "getAddress", "updateAddress", "deleteAddress",
    "searchCustomers", "getCustomer", "updateCustomer", "deleteCustomer", "getCustomerAudit",
    "listCategories", "createCategory",
    "listProducts", "getProduct", "createProduct", "updateProduct", "deleteProduct",
    "setStock", "uploadImage", "deleteImage", "getMedia",
    "getCart", "setCartItem", "removeCartItem", "clearCart",
    "placeOrder", "listOrders", "getOrder", "cancelOrder", "streamOrderEvents",
    "listAllOrders", "getAnyOrder", "shipOrder",
})  # fmt: skip


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )


def _type_check(npm_bin: Path, document: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Generate ``api.ts`` from ``document`` beside a copy of ``client-check.ts``; tsc it."""
    workdir.mkdir(parents=True, exist_ok=True)
    generated = _run(
        [str(npm_bin / "openapi-typescript"), str(document), "-o", str(workdir / "api.ts")],
        workdir,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    shutil.copy(HERE / "client-check.ts", workdir / "client-check.ts")
    return _run([str(npm_bin / "tsc"), *TSC_FLAGS, "client-check.ts"], workdir)


def test_a_client_generated_from_the_document_type_checks(
    npm_bin: Path, openapi_file: Path, tmp_path: Path
) -> None:
    checked = _type_check(npm_bin, openapi_file, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    generated = (tmp_path / "api.ts").read_text()
    assert '"pending" | "confirmed" | "rejected" | "cancelled" | "shipped"' in generated


def test_the_program_stops_compiling_if_a_status_is_any_string(
    npm_bin: Path, openapi: dict[str, Any], tmp_path: Path
) -> None:
    loose = copy.deepcopy(openapi)
    loose["components"]["schemas"]["Status"] = {"type": "string"}
    document = tmp_path / "loose.json"
    document.write_text(json.dumps(loose))
    checked = _type_check(npm_bin, document, tmp_path / "client")
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output
    # The exhaustive switch and the refused "paid" are what notice.
    assert "not assignable to type 'never'" in output, output
    assert "Unused '@ts-expect-error' directive" in output, output


def test_spectral_oas_finds_nothing(npm_bin: Path, openapi_file: Path, tmp_path: Path) -> None:
    linted = _run(
        [
            str(npm_bin / "spectral"),
            "lint",
            "--ruleset", str(HERE / ".spectral.yaml"),
            "--format", "json",
            "--output", str(tmp_path / "spectral.json"),
            "--fail-severity", "hint",
            str(openapi_file),
        ],
        tmp_path,
    )  # fmt: skip
    report = tmp_path / "spectral.json"
    findings = json.loads(report.read_text()) if report.exists() else None
    assert findings == [], f"{linted.stdout}{linted.stderr}\n{json.dumps(findings, indent=1)}"
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    }


def _kinds(operation: dict[str, Any], status: str) -> list[str]:
    answer = operation["responses"][status]
    kinds = problem_types(answer["content"][PROBLEM_CONTENT_TYPE]["schema"])
    assert kinds is not None, answer
    return kinds


def test_the_errors_a_storefront_handles_are_declared(openapi: dict[str, Any]) -> None:
    operations = _operations(openapi)
    expected = {
        ("getProduct", "404"): "product-not-found",
        ("setCartItem", "404"): "product-not-found",
        ("getOrder", "404"): "order-not-found",
        ("cancelOrder", "404"): "order-not-found",
        ("register", "409"): "email-taken",
        ("placeOrder", "409"): "empty-cart",
        ("cancelOrder", "409"): "illegal-status-change",
        ("createProduct", "409"): "duplicate-sku",
        ("signIn", "401"): "invalid-credentials",
        ("uploadImage", "413"): "image-too-large",
        ("uploadImage", "415"): "unsupported-image",
        ("getCart", "401"): "unauthorized",
        ("shipOrder", "403"): "forbidden",
    }
    for (operation_id, status), slug in expected.items():
        assert problem_type(slug) in _kinds(operations[operation_id], status), operation_id
    for operation_id, operation in operations.items():
        for status, answer in operation["responses"].items():
            if status >= "400":
                assert PROBLEM_CONTENT_TYPE in answer.get("content", {}), (operation_id, status)
    schemas = openapi["components"]["schemas"]
    assert schemas["OrderOut"]["properties"]["status"]["$ref"].endswith("/Status")
    assert schemas["Status"]["enum"] == ["pending", "confirmed", "rejected", "cancelled", "shipped"]
    sort = next(p for p in operations["listProducts"]["parameters"] if p["name"] == "sort")
    assert sort["schema"]["enum"] == ["name", "price", "-price", "newest"]


def test_every_operation_has_a_stable_operation_id(openapi: dict[str, Any]) -> None:
    ids = set(_operations(openapi))
    assert STABLE_OPERATION_IDS - ids == set(), "operationIds renamed or gone"
    # A new operation names its id itself (not FastAPI's "name_path_method" default).
    assert [i for i in ids if not re.fullmatch(r"[a-z][A-Za-z]*", i)] == []
