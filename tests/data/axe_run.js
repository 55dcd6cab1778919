// Runs axe-core (already evaluated in the page) with the given tags; returns the violations,
// a few nodes each, for the assertion message.
async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map((v) => ({
    id: v.id,
    help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " – " + (n.failureSummary || "").split("\n").slice(1, 2).join("")),
    count: v.nodes.length,
  }));
}
