"""SSH configuration templates: the ``templates`` block of ca.json, rendered for ``/ssh/config``.

Each template names a Go template file (``template``, relative to STEPPATH) or is one of the
defaults below (the files smallstep's ``step ca init --ssh`` writes). They are parsed once when
the configuration is loaded, with :mod:`stepca.authority.gotemplate`, and rendered per request
with ``{"Step": {"SSH": ...}, "User": <the client's data>, **templates.data}``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepca.authority.gotemplate import Template, TemplateError
from stepca.errors import BadRequest

TEMPLATE_TYPES = ("snippet", "fullSnippet", "file", "directory", "prepend-line")
#: the data key step CLIs (>= 0.18) send; older clients do not understand "prepend-line"
TEMPLATE_VERSION_KEY = "StepSSHTemplateVersion"

_CONFIG = """Host *
{{- if or .User.GOOS "none" | eq "windows" }}
{{- if .User.StepBasePath }}
\tInclude "{{ .User.StepBasePath | replace "\\\\" "/" | trimPrefix "C:" }}/ssh/includes"
{{- else }}
\tInclude "{{ .User.StepPath | replace "\\\\" "/" | trimPrefix "C:" }}/ssh/includes"
{{- end }}
{{- else }}
{{- if .User.StepBasePath }}
\tInclude "{{.User.StepBasePath}}/ssh/includes"
{{- else }}
\tInclude "{{.User.StepPath}}/ssh/includes"
{{- end }}
{{- end }}"""
_STEP_INCLUDES = (
    '{{- if or .User.GOOS "none" | eq "windows" }}Include "{{ .User.StepPath | replace "\\\\" "/" '
    '| trimPrefix "C:" }}/ssh/config"{{- else }}Include "{{.User.StepPath}}/ssh/config"{{- end }}'
)
_STEP_CONFIG = """Match exec "step ssh check-host{{- if .User.Context }} --context {{ .User.Context }}{{- end }} %h"
{{- if .User.User }}
\tUser {{.User.User}}
{{- end }}
{{- if or .User.GOOS "none" | eq "windows" }}
\tUserKnownHostsFile "{{.User.StepPath}}\\ssh\\known_hosts"
\tProxyCommand C:\\Windows\\System32\\cmd.exe /c step ssh proxycommand{{- if .User.Context }} --context {{ .User.Context }}{{- end }} %r %h %p
{{- else }}
\tUserKnownHostsFile "{{.User.StepPath}}/ssh/known_hosts"
\tProxyCommand step ssh proxycommand{{- if .User.Context }} --context {{ .User.Context }}{{- end }} %r %h %p
{{- end }}
"""
_KNOWN_HOSTS = """@cert-authority * {{.Step.SSH.HostKey.Type}} {{.Step.SSH.HostKey.Marshal | toString | b64enc}}
{{- range .Step.SSH.HostFederatedKeys}}
@cert-authority * {{.Type}} {{.Marshal | toString | b64enc}}
{{- end }}
"""
_SSHD_CONFIG = """Match all
\tTrustedUserCAKeys /etc/ssh/ca.pub
\tHostCertificate /etc/ssh/{{.User.Certificate}}
\tHostKey /etc/ssh/{{.User.Key}}"""
_CA = """{{.Step.SSH.UserKey.Type}} {{.Step.SSH.UserKey.Marshal | toString | b64enc}}
{{- range .Step.SSH.UserFederatedKeys}}
{{.Type}} {{.Marshal | toString | b64enc}}
{{- end }}
"""

#: the templates used when ca.json has no ``templates`` block: (name, type, path, source, requires)
DEFAULTS: dict[str, list[tuple[str, str, str, str, tuple[str, ...]]]] = {
    "user": [
        ("config.tpl", "snippet", "~/.ssh/config", _CONFIG, ()),
        ("step_includes.tpl", "prepend-line", "${STEPPATH}/ssh/includes", _STEP_INCLUDES, ()),
        ("step_config.tpl", "file", "ssh/config", _STEP_CONFIG, ()),
        ("known_hosts.tpl", "file", "ssh/known_hosts", _KNOWN_HOSTS, ()),
    ],
    "host": [
        ("sshd_config.tpl", "snippet", "/etc/ssh/sshd_config", _SSHD_CONFIG, ("Certificate", "Key")),
        ("ca.tpl", "snippet", "/etc/ssh/ca.pub", _CA, ()),
    ],
}


@dataclass(frozen=True, slots=True)
class SSHTemplate:
    name: str
    type: str
    path: str
    comment: str
    requires: tuple[str, ...]
    template: Template | None  # None for a directory

    def output(self, data: Mapping[str, Any], user_data: Mapping[str, str]) -> dict[str, Any]:
        """The wire form smallstep returns: name, type, path, comment, content (base64)."""
        for key in self.requires:
            if key not in user_data:
                raise BadRequest(f"required variable '{key}' is missing, please use `--set <key=value>` flag")
        content = self.template.render(data) if self.template is not None else b""
        kind, path = self.type, self.path
        if self.name == "step_includes.tpl" and not user_data.get(TEMPLATE_VERSION_KEY):
            kind, path = "file", path.removeprefix("${STEPPATH}/")
        return {
            "name": self.name,
            "type": kind,
            "path": path,
            "comment": self.comment,
            "content": base64.b64encode(content).decode(),
        }


@dataclass(frozen=True, slots=True)
class SSHTemplates:
    user: tuple[SSHTemplate, ...]
    host: tuple[SSHTemplate, ...]
    data: Mapping[str, Any]


def load_ssh_templates(block: object, step_path: Path) -> SSHTemplates:
    """Parse ca.json's ``templates`` (or the defaults when it is absent). Raises TemplateError."""
    if block is None:
        return SSHTemplates(
            user=tuple(_default(*t) for t in DEFAULTS["user"]),
            host=tuple(_default(*t) for t in DEFAULTS["host"]),
            data={},
        )
    if not isinstance(block, dict):
        raise TemplateError("ca.json: templates: must be an object")
    data = block.get("data") or {}
    if not isinstance(data, dict) or "Step" in data or "User" in data:
        raise TemplateError("ca.json: templates.data: must be an object without 'Step' and 'User'")
    ssh = block.get("ssh") or {}
    if not isinstance(ssh, dict):
        raise TemplateError("ca.json: templates.ssh: must be an object")
    return SSHTemplates(
        user=tuple(
            _configured(t, f"templates.ssh.user.{i}", step_path) for i, t in enumerate(_list(ssh, "user"))
        ),
        host=tuple(
            _configured(t, f"templates.ssh.host.{i}", step_path) for i, t in enumerate(_list(ssh, "host"))
        ),
        data=data,
    )


def _list(ssh: dict[str, Any], key: str) -> list[Any]:
    items = ssh.get(key) or []
    if not isinstance(items, list):
        raise TemplateError(f"ca.json: templates.ssh.{key}: must be a list")
    return items


def _default(name: str, kind: str, path: str, source: str, requires: tuple[str, ...]) -> SSHTemplate:
    return SSHTemplate(name, kind, path, "#", requires, Template(name, source))


def _configured(item: object, where: str, step_path: Path) -> SSHTemplate:
    if not isinstance(item, dict):
        raise TemplateError(f"ca.json: {where}: must be an object")
    name, kind, path = item.get("name"), item.get("type"), item.get("path")
    if not isinstance(name, str) or not name:
        raise TemplateError(f"ca.json: {where}.name: template name cannot be empty")
    if kind not in TEMPLATE_TYPES:
        raise TemplateError(f"ca.json: {where}.type: must be one of {', '.join(TEMPLATE_TYPES)}")
    if not isinstance(path, str) or not path:
        raise TemplateError(f"ca.json: {where}.path: template path cannot be empty")
    requires = item.get("requires") or []
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise TemplateError(f"ca.json: {where}.requires: must be a list of strings")
    template = None
    if kind != "directory":
        source_path = item.get("template")
        if not isinstance(source_path, str) or not source_path:
            raise TemplateError(f"ca.json: {where}.template: template file cannot be empty")
        file = Path(source_path).expanduser()
        file = file if file.is_absolute() else step_path / file
        try:
            source = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"ca.json: {where}.template: cannot read {file}: {exc}") from None
        template = Template(name, source)
    comment = item.get("comment") or "#"
    return SSHTemplate(name, kind, path, str(comment), tuple(requires), template)
