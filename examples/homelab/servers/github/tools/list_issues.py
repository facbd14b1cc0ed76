"""List the issues of a GitHub repository."""

API = "https://api.github.com"


async def main(repo: str, state: str | None = None, labels: str | None = None, limit: int | None = None) -> dict:
    """List issues of `repo` ("owner/name"), skipping pull requests.

    `state` is open (default), closed or all; `labels` is comma-separated ("bug,help wanted");
    `limit` is 1-100 (default 20).
    """
    if repo.count("/") != 1:
        return {"error": f"repo must look like owner/name, got '{repo}'"}
    state = (state or "open").lower()
    if state not in {"open", "closed", "all"}:
        return {"error": "state must be open, closed or all"}

    params = {"state": state, "per_page": max(1, min(limit or 20, 100)), "sort": "created"}
    if labels:
        params["labels"] = labels
    headers = {
        "Authorization": f"Bearer {secrets['GITHUB_TOKEN']}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    try:
        resp = await http.get(f"{API}/repos/{repo}/issues", headers=headers, params=params)
        resp.raise_for_status()
    except Exception as exc:
        return {"error": f"GitHub request failed: {exc}"}

    issues = [
        {
            "number": i["number"],
            "title": i["title"],
            "state": i["state"],
            "author": i["user"]["login"],
            "labels": [label["name"] for label in i.get("labels", [])],
            "created_at": i["created_at"],
            "url": i["html_url"],
        }
        for i in resp.json()
        if "pull_request" not in i
    ]
    return {"repo": repo, "count": len(issues), "issues": issues}
