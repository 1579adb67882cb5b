"""This app's hosted mode and allowed models (``components.hosting``), read on every run from the
environment and, on Streamlit Community Cloud, from the app's secrets."""

from __future__ import annotations

import os

import streamlit as st

from components import hosting


def settings() -> hosting.Settings:
    """Hosted mode and its allowed models, from the environment. On Community Cloud they come from
    the app's secrets: Streamlit copies root-level string and number secrets into the environment
    once it reads them; a TOML boolean (``ATTNVIZ_HOSTED = true``) or a list of models is read here."""
    env = dict(os.environ)
    try:
        if st.secrets.load_if_toml_exists():
            for key in (hosting.HOSTED_ENV, hosting.MODELS_ENV):
                if key in st.secrets and key not in env:
                    value = st.secrets[key]
                    env[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    except Exception:  # noqa: BLE001 - a broken secrets file must not take the app down
        pass
    return hosting.settings(env)
