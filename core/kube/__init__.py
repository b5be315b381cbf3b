"""The Kubernetes API client (bounded JSON calls over kubeconfig contexts), below everything that talks
to a cluster: inventories, sweeps and policies (`core.clusters`), bypass PolicyExceptions (`core.bypass`),
what-if (`core.whatif`).
"""
