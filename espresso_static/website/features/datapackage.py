"""The Frictionless Data Package descriptor (``datapackage.json``) of the downloads:
each resource's CSV file, field types, primary and foreign keys, licence and citation."""

from __future__ import annotations

from espresso_static.website.features.resources import Resource


def datapackage(name, title, license, citation, resources, files: dict) -> dict:
    """The Frictionless ``datapackage.json`` of ``resources``; ``files``: the written
    files by name (their sizes and checksums)."""
    package = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "resources": [_resource_descriptor(r, files, resources) for r in resources],
    }
    if license:
        package["licenses"] = [{"name": license} if " " not in license else {"title": license}]
    if citation:
        package["citation"] = citation
    return package


def _resource_descriptor(resource: Resource, files: dict, resources: list[Resource]) -> dict:
    path = f"{resource.name}.csv.gz"
    schema: dict = {
        "fields": [
            {
                "name": c.name,
                "type": c.type,
                "description": c.description,
                **({"constraints": {"required": True}} if c.required else {}),
            }
            for c in resource.columns
        ]
    }
    if resource.primary_key:
        schema["primaryKey"] = list(resource.primary_key)
    # A reference is declared only where its target column is published too.
    published = {(r.name, c.name) for r in resources for c in r.columns}
    foreign_keys = [
        {"fields": c.name, "reference": {"resource": c.references[0], "fields": c.references[1]}}
        for c in resource.columns
        if c.references in published
    ]
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return {
        "profile": "tabular-data-resource",
        "name": resource.name,
        "title": resource.title,
        "description": resource.description,
        "path": path,
        "format": "csv",
        "compression": "gz",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "bytes": files[path].size,
        "hash": f"sha256:{files[path].sha256}",
        "schema": schema,
    }
