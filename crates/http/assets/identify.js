// The capture of the identity document and the selfie (the identification pages): the
// camera (getUserMedia) or a picture file, sent to the server as the request's body.
// Without the script the page still offers the typed machine-readable zone and the
// submission; the pictures need it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const capture = document.getElementById("capture");
  if (!capture) {
    return;
  }
  const radios = capture.querySelectorAll('input[name="document"]');
  const choose = () => {
    const chosen = capture.querySelector('input[name="document"]:checked');
    for (const shot of capture.querySelectorAll(".shot")) {
      const documentType = shot.dataset.document;
      shot.hidden = Boolean(documentType && chosen && documentType !== chosen.value);
    }
  };
  for (const radio of radios) {
    radio.addEventListener("change", choose);
  }
  choose();
  for (const shot of capture.querySelectorAll(".shot")) {
    setUp(capture, shot);
  }
});

function setUp(capture, shot) {
  const video = shot.querySelector("video");
  const cameraButton = shot.querySelector('[data-action="camera"]');
  const takeButton = shot.querySelector('[data-action="take"]');
  const file = shot.querySelector('[data-action="file"]');
  const result = shot.querySelector(".result");
  let stream = null;
  const stop = () => {
    if (stream) {
      for (const track of stream.getTracks()) {
        track.stop();
      }
      stream = null;
    }
    video.hidden = true;
    takeButton.hidden = true;
  };
  cameraButton.addEventListener("click", async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      result.textContent = capture.dataset.noCamera;
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: shot.dataset.facing, width: { ideal: 1920 }, height: { ideal: 1080 } },
        audio: false,
      });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      takeButton.hidden = false;
      takeButton.focus();
    } catch (error) {
      stop();
      result.textContent = capture.dataset.noCamera;
    }
  });
  takeButton.addEventListener("click", async () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    stop();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    await send(capture, shot, result, blob);
  });
  file.addEventListener("change", async () => {
    if (file.files.length > 0) {
      await send(capture, shot, result, file.files[0]);
    }
  });
}

async function send(capture, shot, result, blob) {
  result.textContent = capture.dataset.sending;
  try {
    const response = await fetch(capture.dataset.upload + shot.dataset.kind, {
      method: "POST",
      body: blob,
      headers: { "Content-Type": blob.type || "application/octet-stream" },
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      result.textContent = answer.error || capture.dataset.failed;
      return;
    }
    // The zone is on the back of an ID card and on a passport's photo page.
    const hasZone = shot.dataset.kind === "back" || shot.dataset.kind === "page";
    if (answer.mrz_read) {
      result.textContent = capture.dataset.read;
      const zone = capture.querySelector("[data-mrz-state]");
      if (zone) {
        zone.textContent = capture.dataset.read;
      }
    } else {
      result.textContent = hasZone ? capture.dataset.unread : capture.dataset.received;
    }
    shot.dataset.done = "yes";
  } catch (error) {
    result.textContent = capture.dataset.failed;
  }
}
