/* Progressive enhancement for the survey's place lists: a search box that narrows the options.
   Without JavaScript the full list is shown and works the same. */
document.querySelectorAll("input.filter").forEach(function (box) {
  box.hidden = false;
  box.addEventListener("input", function () {
    var q = box.value.trim();
    box.parentNode.querySelectorAll("label.opt").forEach(function (l) {
      l.hidden = q !== "" && l.textContent.indexOf(q) < 0 && !l.querySelector("input").checked;
    });
  });
});
