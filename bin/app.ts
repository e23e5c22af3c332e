#!/usr/bin/env node
import { App } from 'aws-cdk-lib'
import { buildTrainerChat } from '../lib/app.ts'
import { loadStageConfig } from '../lib/config.ts'

// `npx cdk synth -c stage=dev|prod`; the stage's settings live in cdk.json (see lib/config.ts).
const app = new App()
buildTrainerChat(app, loadStageConfig(app))
