"""Latest release of a GitHub repository."""

API = "https://api.github.com"


async def main(repo: str, notes_chars: int | None = None) -> dict:
    """Return tag, name, publication date and the start of the notes of the latest release.

    Args:
        repo: repository as "owner/name", e.g. "immich-app/immich".
        notes_chars: how many characters of the release notes to include (default 800).
    """
    if repo.count("/") != 1:
        return {"error": f"repo must look like owner/name, got '{repo}'"}
    headers = {
        "Authorization": f"Bearer {secrets['GITHUB_TOKEN']}",
        "Accept": "application/vnd.github+json",
    }
    try:
        resp = await http.get(f"{API}/repos/{repo}/releases/latest", headers=headers)
    except Exception as exc:
        return {"error": f"GitHub request failed: {exc}"}
    if resp.status_code == 404:
        return {"repo": repo, "release": None, "note": "no published release (or repository not visible)"}
    resp.raise_for_status()

    rel = resp.json()
    body = rel.get("body") or ""
    limit = max(0, notes_chars if notes_chars is not None else 800)
    return {
        "repo": repo,
        "tag": rel["tag_name"],
        "name": rel.get("name") or rel["tag_name"],
        "published_at": rel.get("published_at"),
        "prerelease": rel.get("prerelease", False),
        "notes": body[:limit] + ("…" if len(body) > limit else ""),
        "url": rel["html_url"],
    }
