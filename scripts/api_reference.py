"""docs/api.md, a short reference rendered from openapi.yaml, so that the page and the document cannot drift;
and the document as OpenAPI 3.0, which API Gateway imports (it takes 2.0 and 3.0, not 3.1).

    python -m scripts.api_reference          # writes docs/api.md (tests/test_openapi.py checks it is current)
    python -m scripts.api_reference --openapi-3.0 openapi-3.0.yaml
"""

import argparse
import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT, PAGE = ROOT / "openapi.yaml", ROOT / "docs" / "api.md"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def schema_name(media: dict) -> str:
    schema = media.get("schema", {})
    refs = [option["$ref"] for option in schema.get("oneOf", [schema]) if "$ref" in option]
    return " or ".join(f"`{ref.rsplit('/', 1)[1]}`" for ref in refs) or f"`{schema.get('type', 'any')}`"


def render(document: dict) -> str:
    info = document["info"]
    lines = [f"# {info['title']}: the API reference", "",
             f"Rendered from [`openapi.yaml`](../openapi.yaml) (OpenAPI {document['openapi']}) by "
             "`python -m scripts.api_reference`; point a client generator or Postman at that file. The local API "
             "serves it at `GET /openapi.json`.", "", one_line(info["description"]), ""]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = "an API key (`x-api-key`)" if operation.get("security", document.get("security")) else "no key"
            lines += [f"## `{method.upper()} {path}`", "", f"{operation['summary']}; needs {key}.", ""]
            if "description" in operation:
                lines += [one_line(operation["description"]), ""]
            if "requestBody" in operation:
                lines += ["| request body | schema |", "|---|---|"]
                lines += [f"| `{media}` | {schema_name(body)} |"
                          for media, body in operation["requestBody"]["content"].items()]
                lines.append("")
            lines += ["| status | schema | when |", "|---:|---|---|"]
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                schemas = " / ".join(schema_name(media) for media in response.get("content", {}).values())
                lines.append(f"| {status} | {schemas} | {one_line(response['description'])} |")
            lines.append("")
    error = document["components"]["schemas"]["Error"]
    lines += ["## The error object", "",
              "`{\"error\": {\"type\": ..., \"message\": ..., \"status\": ...}}`, the type one of "
              + ", ".join(f"`{kind}`" for kind in error["properties"]["type"]["enum"])
              + ". [contract.md](contract.md) says when each is answered.", ""]
    return "\n".join(lines)


def as_openapi_30(document: dict) -> dict:
    """The document in OpenAPI 3.0's words: what 3.1 took from JSON Schema 2020-12 said as 3.0 says it."""
    rendered = copy.deepcopy(document)
    rendered["openapi"] = "3.0.3"
    rendered["info"].pop("summary", None)
    rendered["info"]["license"].pop("identifier", None)

    def downgrade(node):
        if isinstance(node, dict):
            if node.get("contentMediaType"):  # a file's bytes
                node.pop("contentMediaType")
                node["format"] = "binary"
            if isinstance(node.get("examples"), list) and "type" in node:  # a schema's examples
                node["example"] = node.pop("examples")[0]
            for value in node.values():
                downgrade(value)
        elif isinstance(node, list):
            for value in node:
                downgrade(value)

    downgrade(rendered)
    return rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openapi-3.0", dest="openapi_30", metavar="PATH",
                        help="write the document as OpenAPI 3.0 to PATH instead")
    args = parser.parse_args()
    document = yaml.safe_load(DOCUMENT.read_text())
    if args.openapi_30:
        Path(args.openapi_30).write_text(yaml.safe_dump(as_openapi_30(document), sort_keys=False))
        print(f"wrote {args.openapi_30}")
        return
    PAGE.write_text(render(document))
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
