"""A CI's neighbourhood as server-side SVG: what needs it (left), what it needs (right) (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from markupsafe import Markup, escape

MAX_PER_COLUMN = 8
NODE_W, NODE_H, GAP_Y, COL_W, PAD = 190, 40, 12, 250, 16
LABEL_CHARS = 24


@dataclass(frozen=True)
class Node:
    """A CI, or a group of CIs shown as one box."""

    key: str
    type: str
    label: str
    count: int = 1

    @property
    def is_group(self) -> bool:
        """Whether the box stands for several CIs."""
        return self.count > 1 or self.key.startswith("group:")


@dataclass(frozen=True)
class Edge:
    """`source` needs `target` through a relationship of type `label`."""

    source: str
    target: str
    label: str


@dataclass(frozen=True)
class Neighbour:
    """A CI next to another, with the relationship between them."""

    key: str
    type: str
    rel: str


def _grouped(items: list[Neighbour], column: int) -> tuple[list[Node], dict[str, str]]:
    """Nodes for a column (crowded types become one group box) and where each key went."""
    if len(items) <= MAX_PER_COLUMN:
        return [Node(n.key, n.type, n.key) for n in items], {n.key: n.key for n in items}
    by_type = Counter(n.type for n in items)
    nodes: list[Node] = []
    placed: dict[str, str] = {}
    for ci_type, count in by_type.most_common():
        if count > 2 or len(nodes) >= MAX_PER_COLUMN - 1:
            group = f"group:{column}:{ci_type}"
            nodes.append(Node(group, ci_type, f"{count:,} x {ci_type}", count))
            placed.update({n.key: group for n in items if n.type == ci_type})
        else:
            for n in (n for n in items if n.type == ci_type):
                nodes.append(Node(n.key, n.type, n.key))
                placed[n.key] = n.key
    return nodes[:MAX_PER_COLUMN], placed


def layout(
    centre: Node,
    needed_by: list[Neighbour],
    needs: list[Neighbour],
    second: list[Edge],
    types: dict[str, str],
) -> tuple[list[list[Node]], list[Edge]]:
    """Columns (needed-by, the CI, what it needs, what those need) and the edges between boxes."""
    left, left_at = _grouped(needed_by, 0)
    right, right_at = _grouped(needs, 2)
    further = [Neighbour(e.target, types.get(e.target, "ci"), e.label) for e in second]
    unique = list({n.key: n for n in further if n.key not in right_at}.values())
    far, far_at = _grouped(unique, 3)
    edges = {Edge(left_at[n.key], centre.key, n.rel) for n in needed_by if n.key in left_at}
    edges |= {Edge(centre.key, right_at[n.key], n.rel) for n in needs if n.key in right_at}
    edges |= {
        Edge(right_at[e.source], far_at[e.target], e.label)
        for e in second
        if e.source in right_at and e.target in far_at
    }
    return [left, [centre], right, far], sorted(edges, key=lambda e: (e.source, e.target))


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _slug(ci_type: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in ci_type)


def _node_svg(node: Node, x: int, y: int, centre: bool) -> str:
    cls = (
        f"node t-{_slug(node.type)}"
        + (" centre" if centre else "")
        + (" group" if node.is_group else "")
    )
    title = escape(f"{node.label} ({node.type})" if not node.is_group else node.label)
    body = (
        f'<g class="{cls}"><title>{title}</title>'
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
        f'<text x="{x + 10}" y="{y + 17}" class="key">{escape(_short(node.label))}</text>'
        f'<text x="{x + 10}" y="{y + 33}" class="type">{escape(node.type)}</text></g>'
    )
    if node.is_group or centre:
        return body
    return f'<a href="/cmdb/ci/{quote(node.key, safe="")}">{body}</a>'


def draw(columns: list[list[Node]], edges: list[Edge], *, title: str) -> Markup:
    """The SVG markup of a laid-out neighbourhood."""
    tallest = max(len(c) for c in columns) or 1
    height = PAD * 2 + tallest * (NODE_H + GAP_Y) - GAP_Y
    width = PAD * 2 + (len(columns) - 1) * COL_W + NODE_W
    spots: dict[str, tuple[int, int]] = {}
    parts: list[str] = []
    centre_key = columns[1][0].key
    for index, column in enumerate(columns):
        top = PAD + (height - 2 * PAD - (len(column) * (NODE_H + GAP_Y) - GAP_Y)) // 2
        for row, node in enumerate(column):
            spots[node.key] = (PAD + index * COL_W, top + row * (NODE_H + GAP_Y))
    for edge in edges:
        if edge.source not in spots or edge.target not in spots:
            continue
        (x1, y1), (x2, y2) = spots[edge.source], spots[edge.target]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
        mid = (x1 + x2) // 2
        parts.append(
            f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 6},{y2}" '
            f'marker-end="url(#arrow)"><title>{escape(edge.source)} {escape(edge.label)} '
            f"{escape(edge.target)}</title></path>"
        )
    for column in columns:
        for node in column:
            x, y = spots[node.key]
            parts.append(_node_svg(node, x, y, node.key == centre_key))
    return Markup(
        f'<svg class="graph" role="img" aria-labelledby="graph-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="graph-title">{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        "</defs>" + "".join(parts) + "</svg>"
    )
