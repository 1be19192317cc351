// Counter UI behaviour that needs script (everything else works without it).
// After a submission with errors, move the focus to the error summary so that keyboard and
// screen-reader users land on the list of problems (each links to its field).
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
