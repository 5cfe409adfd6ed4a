// The card page's share button: the phone's own share sheet where there is one
// (navigator.share); elsewhere the button stays hidden and the link is shown.
(function () {
  var button = document.getElementById("share-button");
  if (!button || !navigator.share) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.share({ title: button.dataset.title, url: button.dataset.url })
      .catch(function () {});
  });
})();
