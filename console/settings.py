"""Where the console listens and what it reaches, from the environment (IPSS_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from suite import config

DEFAULT_PORT = 8080


def listen_port() -> int:
    return int(os.environ.get("IPSS_CONSOLE_PORT", DEFAULT_PORT))


def address() -> str:
    """Where a browser (and `ipss up`'s health check) reaches the console."""
    return os.environ.get("IPSS_CONSOLE_ADDR", f"127.0.0.1:{listen_port()}")


@dataclass(frozen=True)
class Settings:
    registry_address: str
    complaints_address: str
    # The development user picker signs tokens for any person's role with the development sign-in
    # key: never on in production, where people sign in with the office's OpenID provider (oidc).
    dev_signin: bool = False
    oidc: config.OidcSettings | None = None
    # Where browsers reach the console (IPSS_CONSOLE_URL): the provider sends them back below it.
    public_url: str = field(default_factory=lambda: f"http://{address()}")
    temporal_ui: str = "http://127.0.0.1:8233"
    temporal_namespace: str = "default"
    # Where the suite's configuration puts the inspections service unless a caller names it.
    inspections_address: str = field(default_factory=lambda: config.service_address("inspections"))

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS, as a production console is served; the development console
        (`ipss up`, the user picker) is served over plain HTTP on loopback."""
        return not self.dev_signin

    @classmethod
    def from_environment(cls, dev_signin: bool = False) -> Settings:
        ui_port = int(os.environ.get("IPSS_TEMPORAL_UI_PORT", 8233))
        return cls(registry_address=config.service_address("registry"),
                   complaints_address=config.service_address("complaints"),
                   inspections_address=config.service_address("inspections"),
                   dev_signin=dev_signin, oidc=config.oidc(),
                   public_url=os.environ.get("IPSS_CONSOLE_URL", f"http://{address()}").rstrip("/"),
                   temporal_ui=os.environ.get("IPSS_TEMPORAL_UI_URL", f"http://127.0.0.1:{ui_port}"),
                   temporal_namespace=config.temporal().namespace)

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.temporal_ui}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
