"""What ``OPTIONS`` answers: the view's name, description and media types.

DRF's default metadata also describes each write's input by asking the view for a serializer; these views
parse input with plain serializers of their own (documented in the OpenAPI schema), so that question has
no answer and turned ``OPTIONS`` into a server error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import SimpleMetadata

if TYPE_CHECKING:  # ``rest_framework.views`` imports this module through its settings.
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ViewMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
