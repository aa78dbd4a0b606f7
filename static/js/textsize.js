// The text-size control (A- / A+ in the top bar): the chosen step is kept in localStorage and applied to the root
// element before the page paints (this script is loaded in <head>, not deferred), so every page keeps it.
(function () {
  var STEPS = [0.875, 1, 1.125, 1.25, 1.5];
  var KEY = 'certify-text-scale';
  function stored() {
    var v = null;
    try { v = parseFloat(localStorage.getItem(KEY)); } catch (e) { v = null; }
    return STEPS.indexOf(v) >= 0 ? v : 1;
  }
  function apply(scale) {
    document.documentElement.style.fontSize = scale === 1 ? '' : (scale * 100) + '%';
    document.documentElement.dataset.textScale = String(scale);
  }
  apply(stored());
  document.addEventListener('DOMContentLoaded', function () {
    var buttons = document.querySelectorAll('[data-textsize]');
    function refresh() {
      var i = STEPS.indexOf(stored());
      for (var b = 0; b < buttons.length; b += 1) {
        var up = buttons[b].dataset.textsize === '1';
        buttons[b].disabled = up ? i === STEPS.length - 1 : i === 0;
      }
    }
    for (var b = 0; b < buttons.length; b += 1) {
      buttons[b].addEventListener('click', function (e) {
        var i = STEPS.indexOf(stored()) + Number(e.currentTarget.dataset.textsize);
        var scale = STEPS[Math.max(0, Math.min(STEPS.length - 1, i))];
        try { localStorage.setItem(KEY, String(scale)); } catch (err) { /* private mode: this page only */ }
        apply(scale);
        refresh();
      });
    }
    refresh();
  });
}());
