// The report filter form: the Floor choices follow the chosen building and the Room choices the chosen building
// and floor, as the server renders them, so that a combination the filters would refuse (a 400) is not offered.
// A file of its own rather than inline: the Content-Security-Policy runs scripts from this origin only.
(() => {
  "use strict";
  const form = document.getElementById("report-filters");
  if (!form) { return; }
  const building = form.querySelector("#filter-building");
  const floor = form.querySelector("#filter-floor");
  const room = form.querySelector("#filter-room");

  // Show the options ``keep`` accepts; a chosen option that is no longer offered falls back to "All".
  function narrow(select, keep) {
    for (const option of select.options) {
      if (!option.value) { continue; }
      const offered = keep(option);
      option.hidden = !offered;
      option.disabled = !offered;
    }
    if (select.selectedIndex > 0 && select.options[select.selectedIndex].disabled) { select.value = ""; }
  }

  function update() {
    const inBuilding = (option) => !building.value || option.dataset.building === building.value;
    narrow(floor, inBuilding);
    narrow(room, (option) => inBuilding(option) && (!floor.value || option.dataset.floor === floor.value));
  }

  building.addEventListener("change", update);
  floor.addEventListener("change", update);
  update();
})();
