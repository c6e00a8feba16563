"""Create-only review resources (TokenReview, SubjectAccessReview, SelfSubjectReview,
SelfSubjectAccessReview, SelfSubjectRulesReview, LocalSubjectAccessReview): the request
is answered, never stored.

Public names:

    create(info, body, ctx) -> dict   the review with its status filled in (the server
                                      answers 201 with it)

Answering needs the authenticator and authorizer. Until they are wired in here, every
review is refused with the Status upstream gives for a verb a resource does not support
(405 MethodNotAllowed), so no client ever reads an invented review result.
"""

from __future__ import annotations

from k8snet.apiserver.context import Ctx
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery.resources import KindInfo


def create(info: KindInfo, body: object, ctx: Ctx) -> dict:
    """Answer a review POSTed to `info`'s collection."""
    qual = f"{info.plural}.{info.group}" if info.group else info.plural
    raise ApiStatusError(405, f'create is not supported on resources of kind "{qual}"',
                         "MethodNotAllowed", {"group": info.group, "kind": info.plural})
