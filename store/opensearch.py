"""The store on OpenSearch: the Elasticsearch store's index design, request bodies and code, with OpenSearch's client.

`store.backend: opensearch` and `VIGIE_OPENSEARCH_URL` (credentials from `VIGIE_OPENSEARCH_USER` and
`VIGIE_OPENSEARCH_PASSWORD`, or `VIGIE_OPENSEARCH_API_KEY`; `store.opensearch.ca_file` for a private CA). What
OpenSearch does differently from Elasticsearch is in `store/engines.py`.
"""

from __future__ import annotations

from store.elasticsearch import SearchEngineStore
from store.engines import OPENSEARCH


class OpenSearchStore(SearchEngineStore):
    """The store on an OpenSearch 2.4+ cluster (tested on 2.19)."""

    name = "opensearch"
    engine = OPENSEARCH
