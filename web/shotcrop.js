// ShotCrop frontend extension. Registered now so the pack's web folder is wired up and tested;
// the interactive shot editor (writing Edit Shots' overrides JSON) will be added here.
import { app } from "../../scripts/app.js";

app.registerExtension({ name: "ShotCrop.Core" });
