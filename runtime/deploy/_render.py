"""``tierwise deploy render``: compose and Kubernetes files from the tier config.

One source of truth: the tiers' ``deploy`` tables give each SGLang launch (quantization,
KV cache dtype, tensor parallelism, replicas, speculative decoding), and each tier's
``urls`` must name the service the rendering creates for it, which is checked.
"""

from __future__ import annotations

from typing import Any

import yaml

from runtime.config import SGLangDeploy, TierSpec, TierwiseConfig
from runtime.errors import ConfigError

SGLANG_PORT = 30000
TIERWISE_PORT = 8000


def tier_url(tier: str) -> str:
    """The URL a tier's calls go to in the rendered deployment (router or sole replica)."""
    return f"http://sglang-{tier}:{SGLANG_PORT}/v1"


def sglang_command(deploy: SGLangDeploy) -> list[str]:
    """The launch command of one SGLang replica of a tier."""
    command = ["python3", "-m", "sglang.launch_server", "--model-path", deploy.model_path]
    command += ["--host", "0.0.0.0", "--port", str(SGLANG_PORT), "--tp", str(deploy.tp)]
    command += ["--enable-cache-report", "--enable-metrics", "--schedule-policy", "lpm"]
    if deploy.quantization:
        command += ["--quantization", deploy.quantization]
    if deploy.kv_cache_dtype != "auto":
        command += ["--kv-cache-dtype", deploy.kv_cache_dtype]
    if deploy.mem_fraction_static is not None:
        command += ["--mem-fraction-static", str(deploy.mem_fraction_static)]
    if deploy.speculative is not None:
        spec = deploy.speculative
        command += ["--speculative-algorithm", spec.algorithm]
        if spec.draft_model_path:
            command += ["--speculative-draft-model-path", spec.draft_model_path]
        command += ["--speculative-num-steps", str(spec.num_steps)]
        command += ["--speculative-eagle-topk", str(spec.eagle_topk)]
        command += ["--speculative-num-draft-tokens", str(spec.num_draft_tokens)]
    return command


def _router_command(worker_urls: list[str] | None, tier: str, namespace: str) -> list[str]:
    command = ["python3", "-m", "sglang_router.launch_router", "--host", "0.0.0.0"]
    command += ["--port", str(SGLANG_PORT), "--policy", "cache_aware"]
    if worker_urls is not None:
        return [*command, "--worker-urls", *worker_urls]
    return [
        *command,
        "--service-discovery",
        "--selector",
        f"app=sglang-{tier}-worker",
        "--service-discovery-port",
        str(SGLANG_PORT),
        "--service-discovery-namespace",
        namespace,
    ]


def _served_tiers(config: TierwiseConfig) -> dict[str, tuple[TierSpec, SGLangDeploy]]:
    """Tiers with a deploy table, each checked to point at its rendered service."""
    served = {}
    for name, tier in config.tiers.items():
        if tier.deploy is None:
            continue
        expected = tier_url(name)
        if tier.engine != "openai" or [str(u).rstrip("/") for u in tier.urls] != [expected]:
            raise ConfigError(
                config.source,
                f"tiers.{name}.urls",
                f'a deployed tier is engine "openai" with urls = ["{expected}"]',
            )
        if tier.deploy.replicas > 1 and not tier.router:
            raise ConfigError(
                config.source,
                f"tiers.{name}.router",
                "more than one replica puts an sglang-router in front: set router = true",
            )
        served[name] = (tier, tier.deploy)
    if not served:
        raise ConfigError(config.source, "tiers", "no tier has a [tiers.<name>.deploy] table")
    return served


def render_compose(config: TierwiseConfig, *, config_file: str) -> str:
    """A compose file for one GPU box: SGLang tiers, routers, stores, Langfuse, tierwise."""
    services: dict[str, Any] = {}
    for name, (_, deploy) in _served_tiers(config).items():
        workers = (
            [f"sglang-{name}"]
            if deploy.replicas == 1
            else [f"sglang-{name}-{i}" for i in range(deploy.replicas)]
        )
        for worker in workers:
            services[worker] = {
                "image": config.deploy.sglang_image,
                "command": sglang_command(deploy),
                "ipc": "host",
                "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
                "volumes": ["hf-cache:/root/.cache/huggingface"],
                "deploy": {
                    "resources": {
                        "reservations": {
                            "devices": [
                                {"driver": "nvidia", "count": deploy.tp, "capabilities": ["gpu"]}
                            ]
                        }
                    }
                },
                "healthcheck": {
                    "test": ["CMD", "curl", "-f", f"http://localhost:{SGLANG_PORT}/health"],
                    "interval": "10s",
                    "retries": 60,
                },
            }
        if deploy.replicas > 1:
            urls = [f"http://{worker}:{SGLANG_PORT}" for worker in workers]
            services[f"sglang-{name}"] = {
                "image": config.deploy.router_image,
                "command": _router_command(urls, name, config.deploy.namespace),
                "depends_on": {worker: {"condition": "service_healthy"} for worker in workers},
            }
    services |= _stores_and_langfuse()
    services["tierwise"] = {
        "image": config.deploy.tierwise_image,
        "command": ["tierwise", "serve", "--host", "0.0.0.0", "--port", str(TIERWISE_PORT)],
        "ports": [f"{TIERWISE_PORT}:{TIERWISE_PORT}"],
        "environment": _tierwise_env(
            redis="redis://redis:6379/0",
            qdrant="http://qdrant:6333",
            postgres="postgres",
            langfuse="http://langfuse-web:3000",
        ),
        "volumes": [f"{config_file}:/etc/tierwise/tierwise.toml:ro", "tierwise-state:/data"],
        "depends_on": sorted(
            {"redis", "qdrant", "postgres", "langfuse-web"}
            | {f"sglang-{name}" for name in _served_tiers(config)}
        ),
    }
    document = {
        "name": "tierwise",
        "services": services,
        "volumes": {
            volume: {}
            for volume in (
                "hf-cache",
                "tierwise-state",
                "postgres-data",
                "qdrant-data",
                "clickhouse-data",
                "minio-data",
            )
        },
    }
    rendered: str = yaml.safe_dump(document, sort_keys=False, width=100)
    return _header("docker compose -f deploy/compose/compose.yaml up") + rendered


def _tierwise_env(*, redis: str, qdrant: str, postgres: str, langfuse: str) -> dict[str, str]:
    return {
        "TIERWISE_CONFIG": "/etc/tierwise/tierwise.toml",
        "REDIS_URL": redis,
        "QDRANT_URL": qdrant,
        "DATABASE_URL": f"postgresql://tierwise:${{POSTGRES_PASSWORD:?}}@{postgres}:5432/tierwise",
        "LANGFUSE_HOST": langfuse,
        "LANGFUSE_PUBLIC_KEY": "${LANGFUSE_PUBLIC_KEY:?}",
        "LANGFUSE_SECRET_KEY": "${LANGFUSE_SECRET_KEY:?}",
        "TIERWISE_API_KEYS": "${TIERWISE_API_KEYS:?}",
    }


def _stores_and_langfuse() -> dict[str, Any]:
    """Redis, Qdrant, Postgres and a Langfuse v3 (web, worker, ClickHouse, MinIO)."""
    langfuse_env = {
        "DATABASE_URL": "postgresql://langfuse:${LANGFUSE_DB_PASSWORD:?}@langfuse-db:5432/langfuse",
        "CLICKHOUSE_URL": "http://clickhouse:8123",
        "CLICKHOUSE_MIGRATION_URL": "clickhouse://clickhouse:9000",
        "CLICKHOUSE_USER": "clickhouse",
        "CLICKHOUSE_PASSWORD": "${CLICKHOUSE_PASSWORD:?}",
        "CLICKHOUSE_CLUSTER_ENABLED": "false",
        "REDIS_HOST": "redis",
        "REDIS_PORT": "6379",
        "LANGFUSE_S3_EVENT_UPLOAD_BUCKET": "langfuse",
        "LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT": "http://minio:9000",
        "LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID": "minio",
        "LANGFUSE_S3_EVENT_UPLOAD_SECRET_ACCESS_KEY": "${MINIO_PASSWORD:?}",
        "LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE": "true",
        "LANGFUSE_S3_EVENT_UPLOAD_REGION": "auto",
        "NEXTAUTH_URL": "http://localhost:3000",
        "NEXTAUTH_SECRET": "${LANGFUSE_NEXTAUTH_SECRET:?}",
        "SALT": "${LANGFUSE_SALT:?}",
        "ENCRYPTION_KEY": "${LANGFUSE_ENCRYPTION_KEY:?}",
    }
    return {
        "redis": {"image": "redis:7", "command": ["redis-server", "--save", ""]},
        "qdrant": {"image": "qdrant/qdrant:latest", "volumes": ["qdrant-data:/qdrant/storage"]},
        "postgres": {
            "image": "postgres:16",
            "environment": {
                "POSTGRES_USER": "tierwise",
                "POSTGRES_DB": "tierwise",
                "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?}",
            },
            "volumes": ["postgres-data:/var/lib/postgresql/data"],
        },
        "langfuse-db": {
            "image": "postgres:16",
            "environment": {
                "POSTGRES_USER": "langfuse",
                "POSTGRES_DB": "langfuse",
                "POSTGRES_PASSWORD": "${LANGFUSE_DB_PASSWORD:?}",
            },
        },
        "clickhouse": {
            "image": "clickhouse/clickhouse-server:24",
            "environment": {
                "CLICKHOUSE_USER": "clickhouse",
                "CLICKHOUSE_PASSWORD": "${CLICKHOUSE_PASSWORD:?}",
            },
            "volumes": ["clickhouse-data:/var/lib/clickhouse"],
        },
        "minio": {
            "image": "minio/minio:latest",
            "entrypoint": "sh",
            "command": ["-c", "mkdir -p /data/langfuse && minio server /data"],
            "environment": {
                "MINIO_ROOT_USER": "minio",
                "MINIO_ROOT_PASSWORD": "${MINIO_PASSWORD:?}",
            },
            "volumes": ["minio-data:/data"],
        },
        "langfuse-worker": {
            "image": "langfuse/langfuse-worker:3",
            "environment": langfuse_env,
            "depends_on": ["langfuse-db", "clickhouse", "minio", "redis"],
        },
        "langfuse-web": {
            "image": "langfuse/langfuse:3",
            "environment": langfuse_env,
            "ports": ["3000:3000"],
            "depends_on": ["langfuse-db", "clickhouse", "minio", "redis"],
        },
    }


def render_kubernetes(config: TierwiseConfig, *, config_text: str) -> str:
    """Manifests: tierwise Deployment + Service, SGLang per tier, routers, KEDA scalers."""
    settings = config.deploy
    namespace = settings.namespace
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tierwise-config", "namespace": namespace},
            "data": {"tierwise.toml": config_text},
        },
        _tierwise_deployment(settings.tierwise_image, namespace),
        _service("tierwise", namespace, {"app": "tierwise"}, 80, TIERWISE_PORT, scrape=True),
    ]
    for name, (_, deploy) in _served_tiers(config).items():
        workers = f"sglang-{name}-workers"
        labels = {"app": f"sglang-{name}-worker"}
        documents.append(_headless(workers, namespace, labels))
        documents.append(_sglang_statefulset(name, deploy, settings.sglang_image, namespace))
        if deploy.replicas > 1:
            documents += _router(name, settings.router_image, namespace)
        else:
            documents.append(
                _service(f"sglang-{name}", namespace, labels, SGLANG_PORT, SGLANG_PORT)
            )
        documents.append(
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {"name": f"sglang-{name}", "namespace": namespace},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": workers,
                    },
                    "minReplicaCount": deploy.replicas,
                    "maxReplicaCount": max(settings.max_replicas, deploy.replicas),
                    "triggers": [
                        {
                            "type": "prometheus",
                            "metadata": {
                                "serverAddress": settings.prometheus_url,
                                "query": f'sum(tierwise_queue_depth{{tier="{name}"}})',
                                "threshold": str(settings.queue_depth_per_replica),
                            },
                        }
                    ],
                },
            }
        )
    rendered: str = yaml.safe_dump_all(documents, sort_keys=False, width=100)
    return _header("kubectl apply -f deploy/k8s/tierwise.yaml") + rendered


def _tierwise_deployment(image: str, namespace: str) -> dict[str, Any]:
    env = [
        {"name": key, "value": value}
        for key, value in {
            "TIERWISE_CONFIG": "/etc/tierwise/tierwise.toml",
            "REDIS_URL": "redis://redis:6379/0",
            "QDRANT_URL": "http://qdrant:6333",
            "LANGFUSE_HOST": "http://langfuse-web:3000",
        }.items()
    ]
    probe = {"httpGet": {"path": "/healthz", "port": TIERWISE_PORT}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "tierwise", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "tierwise"}},
            "template": {
                "metadata": {"labels": {"app": "tierwise"}},
                "spec": {
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": "tierwise",
                            "image": image,
                            "command": ["tierwise", "serve", "--host", "0.0.0.0"],
                            "ports": [{"containerPort": TIERWISE_PORT}],
                            "env": env,
                            # DATABASE_URL, LANGFUSE_*_KEY, TIERWISE_API_KEYS
                            "envFrom": [{"secretRef": {"name": "tierwise-secrets"}}],
                            "readinessProbe": {
                                **probe,
                                "httpGet": {"path": "/readyz", "port": TIERWISE_PORT},
                            },
                            "livenessProbe": probe,
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/tierwise"},
                                {"name": "state", "mountPath": "/data"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "tierwise-config"}},
                        {"name": "state", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _sglang_statefulset(
    tier: str, deploy: SGLangDeploy, image: str, namespace: str
) -> dict[str, Any]:
    labels = {"app": f"sglang-{tier}-worker"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": f"sglang-{tier}-workers", "namespace": namespace},
        "spec": {
            "serviceName": f"sglang-{tier}-workers",
            "replicas": deploy.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(SGLANG_PORT),
                    },
                },
                "spec": {
                    "containers": [
                        {
                            "name": "sglang",
                            "image": image,
                            "command": sglang_command(deploy),
                            "ports": [{"containerPort": SGLANG_PORT}],
                            "resources": {"limits": {"nvidia.com/gpu": deploy.tp}},
                            "readinessProbe": {
                                "httpGet": {"path": "/health", "port": SGLANG_PORT},
                                "periodSeconds": 10,
                                "failureThreshold": 60,
                            },
                            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }


def _router(tier: str, image: str, namespace: str) -> list[dict[str, Any]]:
    """An sglang-router that finds the tier's workers by label (they scale with KEDA)."""
    name = f"sglang-{tier}"
    labels = {"app": f"{name}-router"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": f"{name}-router", "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"{name}-router", "namespace": namespace},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{name}-router", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"{name}-router",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": f"{name}-router", "namespace": namespace}
            ],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-router", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": f"{name}-router",
                        "containers": [
                            {
                                "name": "router",
                                "image": image,
                                "command": _router_command(None, tier, namespace),
                                "ports": [{"containerPort": SGLANG_PORT}],
                            }
                        ],
                    },
                },
            },
        },
        _service(name, namespace, labels, SGLANG_PORT, SGLANG_PORT),
    ]


def _service(
    name: str,
    namespace: str,
    selector: dict[str, str],
    port: int,
    target: int,
    *,
    scrape: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if scrape:
        metadata["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(target),
            "prometheus.io/path": "/metrics",
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target}]},
    }


def _headless(name: str, namespace: str, selector: dict[str, str]) -> dict[str, Any]:
    service = _service(name, namespace, selector, SGLANG_PORT, SGLANG_PORT)
    service["spec"]["clusterIP"] = "None"
    return service


def _header(usage: str) -> str:
    return (
        "# Rendered by `tierwise deploy render` from deploy/tierwise.production.toml: edit that\n"
        f"# file, not this one, and render again. Use: {usage}\n"
    )
