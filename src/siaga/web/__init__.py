"""The web: the signed-in dashboard, the public status page, and the pieces they share (templates, static
assets, sessions). Server-rendered Jinja2; no CDN, no inline script or style (the CSP forbids them)."""
